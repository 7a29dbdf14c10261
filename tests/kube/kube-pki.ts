// The certificates a real control plane needs, made with the openssl command (independent of
// Weft's own x509 code, which is under test elsewhere): a cluster CA, the API server's serving
// certificate, an admin client (O=system:masters), the front-proxy CA and client, and the
// ServiceAccount signing key pair.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const run = promisify(execFile);

export interface KubePki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  frontProxyCa: string;
  frontProxyCert: string;
  frontProxyKey: string;
  saKey: string;
  saPub: string;
  /** PEM text of the cluster CA (what clients trust). */
  caPem: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

async function ecKey(path: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

async function selfSignedCa(dir: string, name: string, cn: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await ecKey(key);
  await openssl(['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  return { cert, key };
}

async function leaf(dir: string, name: string, ca: { cert: string; key: string }, subj: string, ext: string[]): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await ecKey(key);
  const extArgs = ext.flatMap((e) => ['-addext', e]);
  await openssl(['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '2', '-subj', subj, '-CA', ca.cert, '-CAkey', ca.key,
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extArgs]);
  return { cert, key };
}

export async function makeKubePki(dir: string): Promise<KubePki> {
  const ca = await selfSignedCa(dir, 'ca', 'weft-test-kubernetes-ca');
  const server = await leaf(dir, 'apiserver', ca, '/CN=kube-apiserver', [
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  ]);
  const admin = await leaf(dir, 'admin', ca, '/O=system:masters/CN=kubernetes-admin', ['extendedKeyUsage=clientAuth']);
  const fp = await selfSignedCa(dir, 'front-proxy-ca', 'weft-test-front-proxy-ca');
  const fpClient = await leaf(dir, 'front-proxy-client', fp, '/CN=front-proxy-client', ['extendedKeyUsage=clientAuth']);
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', saKey]);
  await openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]);
  return {
    dir,
    caCert: ca.cert,
    caKey: ca.key,
    serverCert: server.cert,
    serverKey: server.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    frontProxyCa: fp.cert,
    frontProxyCert: fpClient.cert,
    frontProxyKey: fpClient.key,
    saKey,
    saPub,
    caPem: await readFile(ca.cert, 'utf8'),
  };
}
