// Trust anchors: the self-signed roots agents accept, one of which signs. The signing anchor is
// generated on first start (ECDSA P-256, ten years) or loaded from PEM files an operator manages.
// A TrustBundle may carry several anchors so a root can be rotated: agents accept old and new
// while workload certificates are re-issued under the new one.
//
// Certificates are built with @peculiar/x509 (via common/x509.ts) over Node's WebCrypto. node-forge
// is not used because it has no ECDSA, and the mesh's certificates are all ECDSA P-256.
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile, rename, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { x509, EC_P256, ECDSA_SHA256 } from '../../common/x509.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

const DAY_MS = 24 * 3600_000;
export const ROOT_LIFETIME_DAYS = 3650;
export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';

export interface TrustAnchor {
  readonly certPem: string;
  readonly cert: x509.X509Certificate;
  /** The signing key; it signs and is never exported again. */
  readonly privateKey: KeyObject;
  /** Hex key id of the anchor (its SKI), used as the AKI of what it issues. */
  readonly keyId: string;
  readonly notAfter: Date;
}

export interface TrustBundle {
  /** The anchor that signs new certificates; its PEM is also in `anchorsPem`. */
  readonly signing: TrustAnchor;
  /** Every anchor agents must accept, signing anchor first. */
  readonly anchorsPem: readonly string[];
}

/** A 128-bit positive serial in hex (the top bit cleared so DER keeps it positive). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 0x01; // no leading zero octet: keeps the serial exactly 16 bytes
  return b.toString('hex');
}

function invalid(message: string, cause?: unknown): WeftError {
  return new WeftError(ErrorCodes.CONFIG_INVALID, message, cause === undefined ? undefined : { cause });
}

async function keyIdOf(cert: x509.X509Certificate): Promise<string> {
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return ski.keyId;
  const created = await x509.SubjectKeyIdentifierExtension.create(cert.publicKey);
  return created.keyId;
}

export interface GenerateOptions {
  /** Subject common name; the trust domain makes roots of different meshes tell apart. */
  commonName?: string;
  lifetimeDays?: number;
  now?: Date;
}

/** Generates a new self-signed root and returns it with its PKCS#8 key PEM (for writing to disk). */
export async function generateTrustAnchor(opts: GenerateOptions = {}): Promise<{ anchor: TrustAnchor; keyPem: string }> {
  const now = opts.now ?? new Date();
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [opts.commonName ?? 'weft root CA'] }, { O: ['weft'] }],
    // Backdated an hour so a node whose clock runs a little behind still accepts the new root.
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + (opts.lifetimeDays ?? ROOT_LIFETIME_DAYS) * DAY_MS),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  const anchor = await trustAnchorFromPem(cert.toString('pem'), keyPem);
  return { anchor, keyPem };
}

/**
 * Builds a signing anchor from a certificate PEM and its PKCS#8 private key PEM, checking that the
 * certificate is a CA allowed to sign certificates, that it is ECDSA P-256, and that the key matches.
 */
export async function trustAnchorFromPem(certPem: string, keyPem: string, now = new Date()): Promise<TrustAnchor> {
  let node: X509Certificate;
  let cert: x509.X509Certificate;
  try {
    node = new X509Certificate(certPem);
    cert = new x509.X509Certificate(certPem);
  } catch (err) {
    throw invalid(`trust anchor certificate is not a PEM X.509 certificate: ${(err as Error).message}`, err);
  }
  if (!node.ca) throw invalid(`trust anchor ${node.subject} is not a CA (basicConstraints CA:false)`);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw invalid(`trust anchor ${node.subject} may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  if (node.publicKey.asymmetricKeyType !== 'ec' || node.publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw invalid(`trust anchor ${node.subject} must have an ECDSA P-256 key; the mesh signs with ECDSA P-256 only`);
  }
  if (new Date(node.validTo).getTime() <= now.getTime()) {
    throw invalid(`trust anchor ${node.subject} expired at ${node.validTo}; generate or install a new root`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
    const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
    if (!pub.equals(node.publicKey.export({ type: 'spki', format: 'der' }))) {
      throw invalid(`trust anchor key does not belong to certificate ${node.subject}`);
    }
  } catch (err) {
    if (err instanceof WeftError) throw err;
    throw invalid(`trust anchor key is not a PEM PKCS#8 private key: ${(err as Error).message}`, err);
  }
  return {
    certPem: cert.toString('pem'),
    cert,
    privateKey: key,
    keyId: await keyIdOf(cert),
    notAfter: cert.notAfter,
  };
}

/** Splits a PEM bundle into its certificates, checking each parses. */
export function splitPemBundle(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => {
    try {
      return new X509Certificate(b).toString().trim();
    } catch (err) {
      throw invalid(`trust bundle holds a certificate that does not parse: ${(err as Error).message}`, err);
    }
  });
}

/** A bundle with the signing anchor first and the extra anchors (deduplicated) after it. */
export function makeTrustBundle(signing: TrustAnchor, extraAnchorsPem: readonly string[] = []): TrustBundle {
  const seen = new Set<string>();
  const anchorsPem: string[] = [];
  for (const pem of [signing.certPem, ...extraAnchorsPem]) {
    const fp = new X509Certificate(pem).fingerprint256;
    if (seen.has(fp)) continue;
    seen.add(fp);
    anchorsPem.push(pem.trim());
  }
  return Object.freeze({ signing, anchorsPem: Object.freeze(anchorsPem) });
}

export interface LoadOptions {
  certFile: string;
  keyFile: string;
  /** Optional PEM file of further anchors to accept (an old root during rotation). */
  bundleFile?: string;
}

/** Loads the signing anchor (and extra anchors) from files an operator provides. */
export async function loadTrustBundle(opts: LoadOptions): Promise<TrustBundle> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw invalid(`cannot read trust anchor file ${file}: ${(err as Error).message}`, err);
    }
  };
  const [certPem, keyPem, extra] = await Promise.all([
    read(opts.certFile),
    read(opts.keyFile),
    opts.bundleFile === undefined ? Promise.resolve('') : read(opts.bundleFile),
  ]);
  const certs = splitPemBundle(certPem);
  if (certs.length === 0) throw invalid(`${opts.certFile} holds no PEM certificate`);
  const signing = await trustAnchorFromPem(certs[0], keyPem);
  return makeTrustBundle(signing, [...certs.slice(1), ...splitPemBundle(extra)]);
}

/** Writes a generated anchor to `dir` (ca.crt, ca.key with mode 0600), atomically per file. */
export async function writeTrustAnchor(dir: string, certPem: string, keyPem: string): Promise<{ certFile: string; keyFile: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  const tmpKey = `${keyFile}.${process.pid}.tmp`;
  // The key file is created 0600 from the start, never readable by others even for a moment.
  await writeFile(tmpKey, keyPem, { mode: 0o600, flag: 'wx' });
  await chmod(tmpKey, 0o600); // the umask cannot widen it, but make the intent explicit
  await rename(tmpKey, keyFile);
  const tmpCert = `${certFile}.${process.pid}.tmp`;
  await writeFile(tmpCert, certPem, { mode: 0o644 });
  await rename(tmpCert, certFile);
  return { certFile, keyFile };
}

/**
 * Loads ca.crt/ca.key from `dir`, or generates and writes them there when neither exists.
 * One of the two present without the other is an operator mistake and is refused.
 */
export async function loadOrCreateTrustBundle(dir: string, opts: GenerateOptions = {}): Promise<{ bundle: TrustBundle; created: boolean }> {
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  const exists = async (f: string): Promise<boolean> => readFile(f).then(() => true, () => false);
  const [hasCert, hasKey] = await Promise.all([exists(certFile), exists(keyFile)]);
  if (hasCert && hasKey) return { bundle: await loadTrustBundle({ certFile, keyFile }), created: false };
  if (hasCert !== hasKey) {
    throw invalid(`${dir} holds ${hasCert ? CA_CERT_FILE : CA_KEY_FILE} but not ${hasCert ? CA_KEY_FILE : CA_CERT_FILE}; restore the missing file or remove both to generate a new root`);
  }
  const { anchor, keyPem } = await generateTrustAnchor(opts);
  await writeTrustAnchor(dir, anchor.certPem, keyPem);
  return { bundle: makeTrustBundle(anchor), created: true };
}
