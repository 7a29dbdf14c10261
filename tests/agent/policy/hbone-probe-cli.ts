// A hand-driven HBONE client for the policy e2e tests: gets a real mesh certificate for
// --identity (with a node's bootstrap token, so only identities of that node's pods), then opens
// one CONNECT to --target through --node's agent, asking by SNI for --sni-identity. Prints
// {status, serverCode} of the answer (200 when the tunnel opened) and exits 0.
//   node hbone-probe-cli.ts --control-socket S --ca CA.crt --token-file F --identity ID
//        --sni-identity ID --node HOST:PORT --target IP:PORT
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { HttpsCertificateSigner, generateCsr } from '../../../agent/identity/index.ts';
import { HboneConnector } from '../../../agent/proxy/hbone/index.ts';
import type { WorkloadCertificate } from '../../../agent/identity/tls-contexts.ts';

const { values } = parseArgs({
  options: {
    'control-socket': { type: 'string' }, ca: { type: 'string' }, 'token-file': { type: 'string' },
    identity: { type: 'string' }, 'sni-identity': { type: 'string' }, node: { type: 'string' }, target: { type: 'string' },
  },
  strict: true,
});
const need = (k: keyof typeof values): string => {
  const v = values[k];
  if (typeof v !== 'string' || v === '') throw new Error(`--${k} is required`);
  return v;
};
const split = (hp: string): { host: string; port: number } => ({ host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) });

const identity = need('identity');
const token = (await readFile(need('token-file'), 'utf8')).trim();
const signer = new HttpsCertificateSigner({ socketPath: need('control-socket'), servername: 'weft-control.weft-system.svc', caPem: await readFile(need('ca'), 'utf8'), token: () => token });
const csr = await generateCsr(identity);
const signed = await signer.sign(csr.csrPem);
signer.close();
const cert: WorkloadCertificate = {
  identity, keyPem: csr.keyPem, certChainPem: signed.certChain, trustAnchorsPem: signed.trustAnchors,
  notBefore: new Date(signed.notBefore), notAfter: new Date(signed.notAfter),
};
const connector = new HboneConnector({ trustDomain: 'cluster.local', certificates: { get: async () => cert }, connectTimeoutMs: 5000, closeGraceMs: 100 });
let out: { status: number | undefined; serverCode: string | undefined; message?: string };
try {
  const stream = await connector.open({ sourceIdentity: identity, destinationIdentity: need('sni-identity'), nodeAddress: split(need('node')), target: split(need('target')) });
  out = { status: 200, serverCode: undefined };
  stream.destroy();
} catch (err) {
  const e = err as Error & { status?: number; serverCode?: string };
  out = { status: e.status, serverCode: e.serverCode, message: e.message };
}
process.stdout.write(JSON.stringify(out) + '\n');
await connector.close();
process.exit(0);
