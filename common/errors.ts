// Stable error codes, in the manner of undici: the code is the contract, the message is for
// the operator and says what to do. Codes never change meaning once released.

export const ErrorCodes = {
  CONFIG_INVALID: 'WEFT_ERR_CONFIG_INVALID',
  CSR_INVALID: 'WEFT_ERR_CSR_INVALID',
  CSR_FORBIDDEN: 'WEFT_ERR_CSR_FORBIDDEN',
  CSR_UNAUTHENTICATED: 'WEFT_ERR_CSR_UNAUTHENTICATED',
  CA_UNAVAILABLE: 'WEFT_ERR_CA_UNAVAILABLE',
  STREAM_PROTOCOL: 'WEFT_ERR_STREAM_PROTOCOL',
  STREAM_UNAUTHENTICATED: 'WEFT_ERR_STREAM_UNAUTHENTICATED',
  /** The agent cannot reach control (name does not resolve, refused, timed out, untrusted certificate); it keeps retrying. */
  CONTROL_UNREACHABLE: 'WEFT_ERR_CONTROL_UNREACHABLE',
  SOURCE_INVALID: 'WEFT_ERR_SOURCE_INVALID',
  REDIRECT_FAILED: 'WEFT_ERR_REDIRECT_FAILED',
  /** eBPF redirection cannot run here: a kernel feature, a tool (bpftool, tc) or bpffs is missing. */
  EBPF_UNSUPPORTED: 'WEFT_ERR_EBPF_UNSUPPORTED',
  NATIVE_UNAVAILABLE: 'WEFT_ERR_NATIVE_UNAVAILABLE',
  /** A pod's network namespace could not be opened or entered (vanished with its pod, or the agent lacks hostPID / the /run/netns mount / CAP_SYS_ADMIN). */
  NETNS_UNAVAILABLE: 'WEFT_ERR_NETNS_UNAVAILABLE',
  /** A message on the CNI relay socket (from weft-cni) that is not a well-formed ADD/DEL. */
  CNI_RELAY_INVALID: 'WEFT_ERR_CNI_RELAY_INVALID',
  PEER_IDENTITY: 'WEFT_ERR_PEER_IDENTITY',
  NO_IDENTITY: 'WEFT_ERR_NO_IDENTITY',
  NO_ROUTE: 'WEFT_ERR_NO_ROUTE',
  UPSTREAM_CONNECT: 'WEFT_ERR_UPSTREAM_CONNECT',
  TUNNEL_CONNECT: 'WEFT_ERR_TUNNEL_CONNECT',
  /** A peer agent stopped answering HTTP/2 PINGs: its node is gone or black-holed; its session was closed. */
  PEER_UNRESPONSIVE: 'WEFT_ERR_PEER_UNRESPONSIVE',
  TUNNEL_REFUSED: 'WEFT_ERR_TUNNEL_REFUSED',
  TUNNEL_TARGET: 'WEFT_ERR_TUNNEL_TARGET',
  TUNNEL_FORBIDDEN: 'WEFT_ERR_TUNNEL_FORBIDDEN',
  /** A connection whose original destination is the agent's own listener (a pod dialled node-ip:15001): refused, it would loop. */
  AGENT_LISTENER: 'WEFT_ERR_AGENT_LISTENER',
  /** An AuthorizationPolicy or MeshPolicy control refused (schema or meaning); names object and field. */
  POLICY_INVALID: 'WEFT_ERR_POLICY_INVALID',
  /** Authorization policy (or the mTLS mode) refused a connection or request. */
  POLICY_DENIED: 'WEFT_ERR_POLICY_DENIED',
  /** A source pod was over its per-workload connection or pending-request limit on its node's agent. */
  WORKLOAD_LIMIT: 'WEFT_ERR_WORKLOAD_LIMIT',
  /** A workload certificate could not be renewed; the one in use keeps serving until it expires. */
  CERT_RENEWAL_FAILED: 'WEFT_ERR_CERT_RENEWAL_FAILED',
  /** This node's clock and control's disagree enough to make certificates look not yet valid or expired. */
  CLOCK_SKEW: 'WEFT_ERR_CLOCK_SKEW',
  /** A log line could not be written (disk full, closed pipe); counted, and reported once writes work again. */
  LOG_WRITE: 'WEFT_ERR_LOG_WRITE',
  ADMIN_NOT_FOUND: 'WEFT_ERR_ADMIN_NOT_FOUND',
  /** WEFT_ADMIN_HOST is not a loopback address: the admin server (tap, config dump) never listens where pods can reach it. */
  ADMIN_NOT_LOOPBACK: 'WEFT_ERR_ADMIN_NOT_LOOPBACK',
  /** A request to the agent's admin port from a web page (an Origin other than its own) or under a non-loopback Host name (DNS rebinding): 403. */
  ADMIN_CROSS_SITE: 'WEFT_ERR_ADMIN_CROSS_SITE',
  /** A mutating method on the admin server or the metrics port (both are read-only): 405. */
  ADMIN_METHOD: 'WEFT_ERR_ADMIN_METHOD',
  /** An admin endpoint failed while answering (the message says what); the agent keeps running. */
  ADMIN_INTERNAL: 'WEFT_ERR_ADMIN_INTERNAL',
  /** An admin query parameter has a value the endpoint does not know (e.g. /stats?by=). */
  ADMIN_QUERY: 'WEFT_ERR_ADMIN_QUERY',
  /** A dashboard API endpoint failed while answering; control's log has the cause. */
  DASHBOARD_INTERNAL: 'WEFT_ERR_DASHBOARD_INTERNAL',
  /** The workload reset or broke off an HTTP request after it was sent (the mesh answers 502). */
  HTTP_UPSTREAM: 'WEFT_ERR_HTTP_UPSTREAM',
  /** A workload's HTTP/1 response was malformed (framing, header syntax, header section over the limit): 502. */
  HTTP_UPSTREAM_MALFORMED: 'WEFT_ERR_HTTP_UPSTREAM_MALFORMED',
  /** An HTTP request carried between agents without a valid weft-target. */
  HTTP_TARGET: 'WEFT_ERR_HTTP_TARGET',
  /** A request path the agent will not normalise — an encoded slash or backslash, a backslash, NUL, an overlong or broken escape, a dot segment with parameters — refused 400 (see docs/policy.md, path normalisation). */
  HTTP_PATH: 'WEFT_ERR_HTTP_PATH',
  /** A malformed HTTP/1 request (bad request line, header, framing or a smuggling attempt): 400, connection closed. */
  HTTP_MALFORMED: 'WEFT_ERR_HTTP_MALFORMED',
  /** An HTTP/1 request whose body framing is ambiguous or invalid — Content-Length with Transfer-Encoding, several or non-digit Content-Lengths, a transfer coding other than one chunked, Transfer-Encoding in HTTP/1.0, a bad chunk size, extension or chunk end (the request-smuggling family): 400, connection closed. */
  HTTP_FRAMING: 'WEFT_ERR_HTTP_FRAMING',
  /** An HTTP/1 request line longer than the limit (RFC 9112 §3: 414 URI Too Long), connection closed. */
  HTTP_URI_TOO_LONG: 'WEFT_ERR_HTTP_URI_TOO_LONG',
  /** A response head the agent was about to write held a status outside 100–999, a field name that is not a token or a value with CR, LF or NUL (header injection): nothing was written. */
  HTTP_RESPONSE_HEAD: 'WEFT_ERR_HTTP_RESPONSE_HEAD',
  /** An HTTP/1 request line plus headers larger than the limit: 431, connection closed. */
  HTTP_HEADERS_TOO_LARGE: 'WEFT_ERR_HTTP_HEADERS_TOO_LARGE',
  /** A client that did not finish its request headers within the header timeout (slowloris): 408, closed. */
  HTTP_HEADER_TIMEOUT: 'WEFT_ERR_HTTP_HEADER_TIMEOUT',
  /** An HTTP/1.1 request with an `Expect` other than `100-continue` (RFC 9110 §10.1.1: 417 Expectation Failed), not forwarded. */
  HTTP_EXPECTATION: 'WEFT_ERR_HTTP_EXPECTATION',
  /** A peer that did not complete (or failed) the TLS handshake on an mTLS listener. */
  TLS_HANDSHAKE: 'WEFT_ERR_TLS_HANDSHAKE',
  /** An HTTP API path or method that does not exist (404/405). */
  HTTP_ROUTE: 'WEFT_ERR_HTTP_ROUTE',
  /** An HTTP/2 peer broke the protocol (RFC 9113 connection error: framing, stream state, flow control, SETTINGS) or abused it (rapid reset, CONTINUATION flood, too many streams: ENHANCE_YOUR_CALM); the connection is closed with GOAWAY. */
  H2_CONNECTION: 'WEFT_ERR_H2_CONNECTION',
  /** An HTTP/2 stream error (RFC 9113 §5.4.2): the one stream is reset with RST_STREAM, the connection survives. */
  H2_STREAM: 'WEFT_ERR_H2_STREAM',
  /** An HPACK header block that cannot be decoded (RFC 7541; COMPRESSION_ERROR): the connection is closed with GOAWAY. */
  H2_COMPRESSION: 'WEFT_ERR_H2_COMPRESSION',
  /** The `weft` CLI found no agent at the socket/address (not running, wrong path). */
  CLI_AGENT_UNREACHABLE: 'WEFT_ERR_CLI_AGENT_UNREACHABLE',
  /** The `weft` CLI may not open the agent's admin socket (run as root or in the socket's group). */
  CLI_PERMISSION: 'WEFT_ERR_CLI_PERMISSION',
  CLI_USAGE: 'WEFT_ERR_CLI_USAGE',
  /** The agent answered with an error status. */
  CLI_AGENT_ERROR: 'WEFT_ERR_CLI_AGENT_ERROR',
  /** A live tap request with an unknown or malformed filter. */
  TAP_FILTER: 'WEFT_ERR_TAP_FILTER',
  /** The dashboard would listen beyond loopback without WEFT_DASHBOARD_TOKEN. */
  DASHBOARD_TOKEN_REQUIRED: 'WEFT_ERR_DASHBOARD_TOKEN_REQUIRED',
  /** A dashboard request without the right token (bearer or ?token=). */
  DASHBOARD_UNAUTHORIZED: 'WEFT_ERR_DASHBOARD_UNAUTHORIZED',
  /** A dashboard request addressed to a Host name it does not answer to (DNS rebinding, or a name missing from WEFT_DASHBOARD_ALLOWED_HOSTS): 403. */
  DASHBOARD_HOST: 'WEFT_ERR_DASHBOARD_HOST',
  /** A dashboard API request or WebSocket opened by a page on another origin: 403. */
  DASHBOARD_CROSS_SITE: 'WEFT_ERR_DASHBOARD_CROSS_SITE',
  /** The dashboard's browser bundle is missing: run `node scripts/build.ts`. */
  DASHBOARD_ASSETS: 'WEFT_ERR_DASHBOARD_ASSETS',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class WeftError extends Error {
  readonly code: ErrorCode;
  /** Expected conditions (bad input, refused peers) are logged without a stack. */
  readonly expected: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; expected?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeftError';
    this.code = code;
    this.expected = options?.expected ?? true;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isWeftError(err: unknown, code?: ErrorCode): err is WeftError {
  return err instanceof WeftError && (code === undefined || err.code === code);
}

/** The code of any error: ours, a Node system error (ECONNRESET…), or 'UNKNOWN'. */
export function errorCode(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return 'UNKNOWN';
}
