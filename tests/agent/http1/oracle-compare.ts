// Compares what agent/http1/request-parser.ts made of some bytes with what node:http (llhttp, the
// current path's parser) made of them. Agreement: the same messages (method, target, version,
// raw header lines, body, trailers, upgrade) in the same order, and a refusal where node refused.
// The only disagreements allowed are ours being STRICTER, in the shapes listed below — each one is
// in agent/http1/README.md with the RFC text behind it. The predicates look at node's message (or
// the input), never at our parser's code.
import type { Outcome } from './drive.ts';
import type { OracleMessage, OracleResult } from './llhttp-oracle.ts';

const header = (m: OracleMessage, name: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < m.rawHeaders.length; i += 2) if (m.rawHeaders[i].toLowerCase() === name) out.push(m.rawHeaders[i + 1]);
  return out;
};
// uri-host [":" port], written here from RFC 3986 §3.2.2 as a regular expression.
const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|([A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(:[0-9]*)?$/;

/** Where node accepted a message and we refused it: which refusals are allowed, when. */
export const STRICTER: Record<string, (n: OracleMessage, input: string) => boolean> = {
  // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host. node answers 400
  // too (requireHostHeader) without telling its 'clientError' listener, but lets an absolute-form
  // target through and parses on after a refusal; we stop at the first refusal.
  host_missing: () => true,
  // RFC 9112 §2.2: a recipient MAY take a lone LF as a line end; a strict one refuses it (llhttp
  // takes it after an HTTP/0.9 request line and between messages).
  bare_lf: (_n, input) => /(^|[^\r])\n/.test(input),
  // RFC 9112 §2.2: a bare CR MUST be treated as invalid (or replaced by SP); llhttp skips one
  // before a request line.
  bare_cr: (_n, input) => /\r(?!\n)/.test(input),
  // RFC 9113 §3.4: PRI is the HTTP/2 preface's method, never an HTTP/1 request; llhttp knows it
  // (to spot the preface) and takes it in any other request line.
  method: (n) => n.method === 'PRI',
  // RFC 9112 §7.1.1: an extension's name is a token and a value follows "="; llhttp takes an
  // empty name (";=b") or value (";a=").
  chunk_ext: (_n, input) => /;=|=[\r;]/.test(input),
  // RFC 9112 §3.2: a server MUST answer 400 to more than one Host, or an invalid one.
  host_duplicate: (n) => header(n, 'host').length > 1,
  host_invalid: (n) => header(n, 'host').some((h) => !AUTHORITY.test(h)),
  // This parser reads HTTP/1.0 and HTTP/1.1 only; llhttp also takes 0.9 and 2.0 in a request line.
  version: (n) => n.version !== '1.0' && n.version !== '1.1',
  // RFC 9112 §3: one SP each side of the target and a version; llhttp skips extra spaces and
  // reads a line without a version as an HTTP/0.9 request.
  request_line: (n, input) => n.version === '0.9' || / {2}/.test(input) || /^(\r\n){9}/.test(input) || /\n(\r\n){9}/.test(input),
  // RFC 9112 §3.2.3 / §3.2.4: CONNECT takes authority-form only, "*" is for OPTIONS only; and only
  // http(s) in absolute-form.
  target: (n) => (n.method === 'CONNECT') || (n.target === '*' && n.method !== 'OPTIONS') || (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(n.target) && !/^https?:\/\//i.test(n.target)),
  // RFC 9112 §6.1: a coding this path does not decode (anything but one chunked).
  te_not_chunked: (n) => { const te = header(n, 'transfer-encoding'); return te.length > 1 || te.some((v) => v.trim().toLowerCase() !== 'chunked'); },
  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 MUST be treated as faulty framing.
  te_http10: (n) => n.version === '1.0' && header(n, 'transfer-encoding').length > 0,
  // RFC 9110 §9.3.6: CONNECT has no content.
  connect_body: (n) => n.method === 'CONNECT' && (header(n, 'transfer-encoding').length > 0 || header(n, 'content-length').some((v) => Number(v) > 0)),
  // No exact integer past 2^53 - 1.
  cl_too_large: (n) => header(n, 'content-length').some((v) => Number(v) > Number.MAX_SAFE_INTEGER),
  too_many_headers: (n) => n.rawHeaders.length / 2 > 100,
  request_line_too_long: (n) => n.method.length + n.target.length + 10 > 8 * 1024,
};

/** Null when the two agree (or ours is stricter in an allowed way); else what differs. */
export function disagreement(ours: Outcome, node: OracleResult, input: string): string | null {
  const n = node.messages;
  const o = ours.messages;
  for (let i = 0; i < Math.max(n.length, o.length); i++) {
    const nm = n[i];
    const om = o[i];
    // A message node refused (or answered 400 itself, as it does for a missing Host): never ours alone.
    if (nm === undefined) return `message ${i}: we accepted ${om.head.method} ${om.head.target}; node refused (${node.error ?? 'silently'})`;
    if (om === undefined) {
      const rule = ours.error?.rule;
      if (rule !== undefined && STRICTER[rule]?.(nm, input) === true) return null;
      return `message ${i}: node accepted ${nm.method} ${nm.target}; we ${rule === undefined ? 'produced nothing' : `refused (${rule})`}`;
    }
    if (om.head.method !== nm.method || om.head.target !== nm.target || `1.${om.head.minor}` !== nm.version) return `message ${i}: request line differs`;
    if (JSON.stringify(om.head.rawHeaders) !== JSON.stringify(nm.rawHeaders)) return `message ${i}: headers differ: ${JSON.stringify(om.head.rawHeaders)} vs ${JSON.stringify(nm.rawHeaders)}`;
    const ourUpgrade = om.head.upgrade || om.head.connect;
    if (ourUpgrade !== nm.upgrade) {
      // RFC 9110 §7.8: an Upgrade in HTTP/1.0 MUST be ignored; llhttp honours it (and stops there).
      if (nm.upgrade && nm.version === '1.0') return null;
      return `message ${i}: upgrade ${ourUpgrade} vs node ${nm.upgrade}`;
    }
    if (nm.upgrade) return null; // both stop parsing: the rest is a tunnel
    if (om.complete !== nm.complete) {
      if (nm.complete) {
        const rule = ours.error?.rule;
        if (rule !== undefined && STRICTER[rule]?.(nm, input) === true) return null;
        return `message ${i}: node took its body; we ${rule === undefined ? 'did not finish it' : `refused (${rule})`}`;
      }
      return `message ${i}: we took its body, node did not (${node.error ?? 'no error'})`;
    }
    if (!om.complete) return null; // both stopped inside this body
    if (!om.body.equals(nm.body)) return `message ${i}: bodies differ`;
    if (JSON.stringify(om.trailers ?? []) !== JSON.stringify(nm.trailers)) return `message ${i}: trailers differ`;
  }
  if (node.error !== null && ours.error === null) return `node refused (${node.error}) after the last message; we did not`;
  return null;
}
