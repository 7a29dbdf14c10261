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
  /** The API server's client certificate for kubelets (`kubectl exec/logs`), in system:masters. */
  kubeletClientCert: string;
  kubeletClientKey: string;
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

/**
 * A client certificate from the cluster CA (`subject` like `/O=system:nodes/CN=system:node:NAME`),
 * for a kubelet or another component the test starts.
 */
export async function makeClientCert(pki: KubePki, name: string, subject: string): Promise<{ cert: string; key: string }> {
  return leaf(pki.dir, name, { cert: pki.caCert, key: pki.caKey }, subject, ['extendedKeyUsage=clientAuth']);
}

/** `serviceIp`: the `kubernetes` Service's ClusterIP (the first address of the service range), a SAN of the serving certificate. */
export async function makeKubePki(dir: string, serviceIp = '10.96.0.1'): Promise<KubePki> {
  const ca = await selfSignedCa(dir, 'ca', 'weft-test-kubernetes-ca');
  const server = await leaf(dir, 'apiserver', ca, '/CN=kube-apiserver', [
    'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:127.0.0.1,IP:${serviceIp},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
  ]);
  const kubeletClient = await leaf(dir, 'apiserver-kubelet-client', ca, '/O=system:masters/CN=kube-apiserver-kubelet-client', ['extendedKeyUsage=clientAuth']);
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
    kubeletClientCert: kubeletClient.cert,
    kubeletClientKey: kubeletClient.key,
    caPem: await readFile(ca.cert, 'utf8'),
  };
}
