// The door of control/ca: trust anchors, the CA that signs workload certificates, and the CSR API.
export {
  generateTrustAnchor,
  trustAnchorFromPem,
  loadTrustBundle,
  loadOrCreateTrustBundle,
  makeTrustBundle,
  writeTrustAnchor,
  splitPemBundle,
  CA_CERT_FILE,
  CA_KEY_FILE,
  type TrustAnchor,
  type TrustBundle,
  type GenerateOptions,
  type LoadOptions,
} from './trust-anchor.ts';
export { validateCsr, type ValidCsr } from './csr-validation.ts';
export {
  LocalCa,
  DEFAULT_TTL_SECONDS,
  DEFAULT_MAX_TTL_SECONDS,
  type CertificateAuthority,
  type SignOptions,
  type LocalCaOptions,
  type ServerCertificate,
} from './issuer.ts';
export { createCsrHandler, type CsrHandlerOptions, type NodeAuthenticator, type RequestHandler } from './csr-handler.ts';
