// Protocol detection on an outbound connection's first bytes, and the rules that skip it. Pure:
// the sniffing socket code (detect-socket.ts) feeds bytes in and acts on the verdict.
//
// HTTP/1.x: a whole request line (RFC 9112 §3): a method token (upper-case letters and '-', up to
// 24 chars — the shape of every registered method), SP, a target, SP, and HTTP/1.0 or HTTP/1.1,
// within the first MAX_LINE bytes. A method and a space alone are not enough: line-based
// protocols ("SOURCE 100 7", "AUTH user") look like that too and must stay opaque.
// HTTP/2 prior knowledge (h2c, gRPC without TLS): the 24-byte client preface (RFC 9113 §3.4).
// Anything else — TLS, binary protocols — is opaque TCP and passes untouched.
import type { ServicePort, ServiceRecord } from '../../control/api/model.ts';

export type Protocol = 'http1' | 'h2' | 'tcp';
export type Detection = Protocol | 'need-more';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const MAX_METHOD = 24;
/** Longest request line we wait for; past it (and without a newline) the stream is opaque. */
export const MAX_LINE = 8192;
const SP = 0x20;
const LF = 0x0a;
const CR = 0x0d;
const VERSION_10 = Buffer.from(' HTTP/1.0', 'latin1');
const VERSION_11 = Buffer.from(' HTTP/1.1', 'latin1');

/** The first line (method and SP already seen at `methodEnd`) decides: HTTP/1 or not. */
function requestLine(head: Buffer, methodEnd: number): Detection {
  const lf = head.indexOf(LF, methodEnd);
  // A line longer than MAX_LINE is opaque whether or not its newline arrived in the same read:
  // otherwise the verdict would depend on how TCP split the bytes (found by tests/fuzz).
  if (lf < 0 || lf >= MAX_LINE) return lf < 0 && head.length < MAX_LINE ? 'need-more' : 'tcp';
  const end = lf > 0 && head[lf - 1] === CR ? lf - 1 : lf;
  const vStart = end - VERSION_11.length;
  if (vStart <= methodEnd) return 'tcp';
  return head.compare(VERSION_11, 0, VERSION_11.length, vStart, end) === 0 || head.compare(VERSION_10, 0, VERSION_10.length, vStart, end) === 0 ? 'http1' : 'tcp';
}

function isMethodChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x2d; // A–Z, '-'
}

/** The verdict on the bytes seen so far; 'need-more' while they are a prefix of either protocol. */
export function detectProtocol(head: Buffer): Detection {
  const n = head.length;
  if (n === 0) return 'need-more';
  // The preface starts with "PRI " — which also looks like an HTTP/1 method, so check it first.
  const cmp = Math.min(n, H2_PREFACE.length);
  if (head.compare(H2_PREFACE, 0, cmp, 0, cmp) === 0) return n >= H2_PREFACE.length ? 'h2' : 'need-more';
  for (let i = 0; i < n && i <= MAX_METHOD; i++) {
    const c = head[i];
    if (c === SP) return i > 0 ? requestLine(head, i) : 'tcp';
    if (!isMethodChar(c)) return 'tcp';
  }
  return n > MAX_METHOD ? 'tcp' : 'need-more';
}

/**
 * Ports where the server speaks first (the client sends nothing until greeted), so waiting for
 * client bytes would only add the detection timeout to every connection: FTP, SSH, SMTP (25, 465,
 * 587), POP3, IMAP, MySQL, NATS; PostgreSQL and MongoDB are client-first but binary and
 * latency-sensitive, so they skip the sniff too. Redis is client-first and its first byte ('*' or
 * a lower/upper-case command followed by CRLF) is ruled out as HTTP at once: no entry needed.
 */
export const SERVER_FIRST_PORTS: ReadonlySet<number> = new Set([21, 22, 25, 110, 143, 465, 587, 993, 995, 3306, 4222, 5432, 27017]);

export type DetectPlan = { kind: 'detect' } | { kind: 'fixed'; protocol: Protocol; reason: string };

const DETECT: DetectPlan = { kind: 'detect' };

/** appProtocol values (Kubernetes standard and IANA names) → what we know without looking. */
export function protocolFromAppProtocol(appProtocol: string | undefined): Protocol | undefined {
  switch (appProtocol?.toLowerCase()) {
    case undefined: return undefined;
    case 'http': case 'http/1.1': case 'kubernetes.io/http': return 'http1';
    case 'kubernetes.io/h2c': case 'h2c': case 'grpc': case 'http2': return 'h2';
    case 'tcp': case 'kubernetes.io/tcp': case 'https': case 'tls': case 'kubernetes.io/tls': case 'mysql': case 'postgresql': case 'redis': return 'tcp';
    default: return undefined;
  }
}

/**
 * Whether to sniff a connection to `port` (the original destination port; for a Service, its
 * service port and record). Declared facts win over guessing: opaque ports (agent-wide or the
 * Service's `weft.dev/opaque-ports`), then appProtocol, then the server-first list.
 */
export function planDetection(port: number, service: { record: ServiceRecord; port: ServicePort } | undefined, opaquePorts: ReadonlySet<number>): DetectPlan {
  if (opaquePorts.has(port)) return { kind: 'fixed', protocol: 'tcp', reason: 'opaque port (agent)' };
  if (service !== undefined) {
    if (service.record.defaults?.opaquePorts?.includes(service.port.port) === true) return { kind: 'fixed', protocol: 'tcp', reason: 'opaque port (service annotation)' };
    const declared = protocolFromAppProtocol(service.port.appProtocol);
    if (declared !== undefined) return { kind: 'fixed', protocol: declared, reason: `appProtocol ${service.port.appProtocol}` };
  }
  if (SERVER_FIRST_PORTS.has(port)) return { kind: 'fixed', protocol: 'tcp', reason: 'server-first port' };
  return DETECT;
}
