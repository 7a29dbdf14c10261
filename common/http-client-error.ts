// What every HTTP/1 server of ours (the outbound L7 path, the agent's admin server, control's API
// and dashboard) does when node:http's parser refuses a client: answer once with a status and a
// stable code when the socket can still take it, close the connection, and say which of a few
// fixed reasons it was so the caller can count it. Node's default handler answers too, but
// without a code and without telling anyone; a listener that sets 'clientError' must do both.
//
// The parser (llhttp, strict mode) already refuses the request-smuggling shapes — Content-Length
// with Transfer-Encoding, differing duplicate Content-Lengths, a Transfer-Encoding that does not
// end in chunked, obs-fold, bare LF, spaces before the colon — so one message the proxy reads is
// never two at the next hop; here they are only told apart for the metric.
import type { Duplex } from 'node:stream';
import { ErrorCodes, type ErrorCode } from './errors.ts';

/** Why a client was refused: a bounded label value. */
export type ClientErrorKind = 'header_timeout' | 'headers_too_large' | 'uri_too_long' | 'framing' | 'malformed';

interface Answer {
  kind: ClientErrorKind;
  status: string;
  code: ErrorCode;
}

const ANSWERED = Symbol('weft.clientErrorAnswered');

// llhttp codes that mean the body's framing was ambiguous or invalid: the smuggling family.
const FRAMING = new Set(['HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'HPE_INVALID_CHUNK_SIZE']);

/** The answer for a parser error, or null when it is no bad input (a reset, a write error). */
export function classifyClientError(err: unknown): Answer | null {
  const code = err !== null && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { kind: 'header_timeout', status: '408 Request Timeout', code: ErrorCodes.HTTP_HEADER_TIMEOUT };
  if (code === 'HPE_HEADER_OVERFLOW') return { kind: 'headers_too_large', status: '431 Request Header Fields Too Large', code: ErrorCodes.HTTP_HEADERS_TOO_LARGE };
  if (FRAMING.has(code)) return { kind: 'framing', status: '400 Bad Request', code: ErrorCodes.HTTP_MALFORMED };
  if (code.startsWith('HPE_')) return { kind: 'malformed', status: '400 Bad Request', code: ErrorCodes.HTTP_MALFORMED };
  return null;
}

/**
 * The 'clientError' handler body: answers (when nothing was sent on the socket yet), closes, and
 * returns the kind for the caller's counter (null: not bad input, just closed).
 */
export function answerClientError(err: unknown, socket: Duplex): ClientErrorKind | null {
  const s = socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null; [ANSWERED]?: true };
  // Bytes a client keeps sending after our answer make the parser complain again: one refusal,
  // one count (found by tests/e2e/sec-control-input.test.ts: slow clients were counted twice).
  if (s[ANSWERED] === true) {
    s.destroy();
    return null;
  }
  const a = classifyClientError(err);
  // Mid-response (a pipelined request after a good one) there is no clean place for an answer.
  if (a !== null && s.writable && s._httpMessage?.headersSent !== true) {
    s[ANSWERED] = true;
    s.end(`HTTP/1.1 ${a.status}\r\nweft-error: ${a.code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    // A client that never reads must not hold the socket: the answer is best effort.
    setTimeout(() => s.destroy(), 1000).unref();
  } else {
    s.destroy();
  }
  return a?.kind ?? null;
}

/**
 * node:http server options that bound how long a client may take over its request line and
 * headers. node checks on a timer (connectionsCheckingInterval, 30 s by default), so a short bound
 * needs a shorter period or it would only be enforced at the next tick.
 */
export function headerTimeoutOptions(headersTimeoutMs: number): { headersTimeout: number; connectionsCheckingInterval: number } {
  return { headersTimeout: headersTimeoutMs, connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(headersTimeoutMs / 4))) };
}
