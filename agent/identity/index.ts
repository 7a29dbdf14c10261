// The door of agent/identity: workload certificates for the proxy, kept current.
export { generateCsr, type GeneratedCsr } from './csr.ts';
export { HttpsCertificateSigner, type CertificateSigner, type HttpsSignerOptions } from './csr-client.ts';
export {
  CachingSecretManager,
  systemClock,
  type SecretManager,
  type SecretManagerOptions,
  type SecretManagerEvents,
  type WorkloadCertificate,
  type CertificateSnapshot,
  type Clock,
  type TimerHandle,
} from './secret-manager.ts';
export { AgentTrustBundle, type TrustBundleSnapshot } from './trust-bundle.ts';
export { ControlTrust, resolveControlAnchors, unionAnchors, type ControlAnchors } from './control-trust.ts';
