// Every refusal of the HTTP/1.1 request parser, by rule: the status the app is answered with, the
// stable code in its `weft-error` header, and the bounded label it is counted under
// (weft_rejected_input_total{reason="http1_<kind>"}, as common/http-client-error.ts counts the
// node:http path). The rule name is stable too: tests and logs name the exact rule.
import type { ClientErrorKind } from '../../common/http-client-error.ts';
import { ErrorCodes, WeftError, type ErrorCode } from '../../common/errors.ts';

interface RuleAnswer {
  status: number;
  code: ErrorCode;
  kind: ClientErrorKind;
}

const MALFORMED: RuleAnswer = { status: 400, code: ErrorCodes.HTTP_MALFORMED, kind: 'malformed' };
const FRAMING: RuleAnswer = { status: 400, code: ErrorCodes.HTTP_FRAMING, kind: 'framing' };
const TOO_LARGE: RuleAnswer = { status: 431, code: ErrorCodes.HTTP_HEADERS_TOO_LARGE, kind: 'headers_too_large' };

export const RULES = {
  /** A line ended by LF alone (RFC 9112 §2.2). */
  bare_lf: MALFORMED,
  /** A CR not followed by LF (RFC 9112 §2.2). */
  bare_cr: MALFORMED,
  /** Not `method SP request-target SP HTTP-version`, one SP each (RFC 9112 §3). */
  request_line: MALFORMED,
  /** Not a method node:http knows (its parser refuses the same ones). */
  method: MALFORMED,
  /** A target character outside visible ASCII, or a form the method does not allow (RFC 9112 §3.2). */
  target: MALFORMED,
  /** Not HTTP/1.0 or HTTP/1.1. */
  version: MALFORMED,
  /** The request line past the limit (RFC 9112 §3: 414). */
  request_line_too_long: { status: 414, code: ErrorCodes.HTTP_URI_TOO_LONG, kind: 'uri_too_long' },
  /** A field name that is empty or not a token, or a line without a colon (RFC 9110 §5.1). */
  field_name: MALFORMED,
  /** Whitespace between a field name and its colon (RFC 9112 §5.1: MUST 400). */
  space_before_colon: MALFORMED,
  /** A control character or DEL in a field value (RFC 9110 §5.5). */
  field_value: MALFORMED,
  /** A line starting with SP/HTAB: obs-fold, or whitespace before the first field (RFC 9112 §5.2, §2.2). */
  obs_fold: MALFORMED,
  /** Request line plus header section past the byte limit. */
  headers_too_large: TOO_LARGE,
  /** More header (or trailer) fields than the limit. */
  too_many_headers: TOO_LARGE,
  /** An HTTP/1.1 request without Host (RFC 9112 §3.2: MUST 400). */
  host_missing: MALFORMED,
  /** More than one Host field (RFC 9112 §3.2: MUST 400). */
  host_duplicate: MALFORMED,
  /** A Host that is not `uri-host [":" port]` (RFC 9112 §3.2: MUST 400). */
  host_invalid: MALFORMED,
  /** Both Transfer-Encoding and Content-Length (RFC 9112 §6.1, §6.3: the smuggling signature). */
  te_and_cl: FRAMING,
  /** A Content-Length that is not 1*DIGIT (RFC 9110 §8.6). */
  cl_invalid: FRAMING,
  /** More than one Content-Length field, equal or not, or a list (RFC 9112 §6.3 item 5). */
  cl_duplicate: FRAMING,
  /** A Content-Length past 2^53 - 1 (no exact integer for it here). */
  cl_too_large: FRAMING,
  /** A transfer coding other than exactly one `chunked` (RFC 9112 §6.1, §6.3 item 4). */
  te_not_chunked: FRAMING,
  /** Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: MUST treat the framing as faulty). */
  te_http10: FRAMING,
  /** Content-Length above 0 or Transfer-Encoding on CONNECT, which has no content (RFC 9110 §9.3.6). */
  connect_body: FRAMING,
  /** A chunk-size line that is not `1*HEXDIG [chunk-ext]`, or past 2^53 - 1 (RFC 9112 §7.1). */
  chunk_size: FRAMING,
  /** A chunk extension that is not `;token[=token / quoted-string]` (RFC 9112 §7.1.1). */
  chunk_ext: FRAMING,
  /** More chunk-extension bytes in one message than the limit (node:http's bound too). */
  chunk_ext_too_large: FRAMING,
  /** Chunk data not followed by CRLF (RFC 9112 §7.1). */
  chunk_data_crlf: FRAMING,
  /** Content-Length or Transfer-Encoding in a trailer section (RFC 9110 §6.5.1: framing fields never belong there). */
  trailer_framing: FRAMING,
  /** The connection ended inside a message. */
  truncated: MALFORMED,
} as const satisfies Record<string, RuleAnswer>;

export type H1Rule = keyof typeof RULES;

/** A refused request: the rule it broke and how it is answered. */
export class H1ParseError extends WeftError {
  readonly rule: H1Rule;
  readonly status: number;
  readonly kind: ClientErrorKind;

  constructor(rule: H1Rule, message: string) {
    const a = RULES[rule];
    super(a.code, message);
    this.name = 'H1ParseError';
    this.rule = rule;
    this.status = a.status;
    this.kind = a.kind;
  }
}
