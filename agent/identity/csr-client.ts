// Sends CSRs to control over HTTPS (TCP or a unix socket), authenticating with the agent's node
// credential and verifying control's serving certificate against the mesh's trust bundle.
import { Agent, request } from 'node:https';
import { ErrorCodes, WeftError, errorCode, type ErrorCode } from '../../common/errors.ts';
import { CSR_PATH, type ApiError, type CsrRequest, type CsrResponse } from '../../control/api/csr.ts';
import { resolveControlAnchors, type ControlAnchors } from './control-trust.ts';

export interface CertificateSigner {
  sign(csrPem: string): Promise<CsrResponse>;
}

export interface HttpsSignerOptions {
  /** Control's address; ignored when `socketPath` is set. */
  host?: string;
  port?: number;
  /** A unix socket where control serves the same TLS API (crosses network namespaces). */
  socketPath?: string;
  /** TLS server name control's certificate must carry (also sent as SNI). */
  servername: string;
  /** PEM CA certificates control's serving certificate must chain to (a function is asked per CSR). */
  caPem: ControlAnchors;
  /** Read on every request: projected tokens are refreshed by the kubelet while we run. */
  token: () => string | Promise<string>;
  /** Lifetime to ask for; control caps it. */
  ttlSeconds?: number;
  timeoutMs?: number;
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));
const MAX_ANSWER = 256 * 1024;

function isCsrResponse(v: unknown): v is CsrResponse {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  const strings = (a: unknown): boolean => Array.isArray(a) && a.length > 0 && a.every((s) => typeof s === 'string');
  return strings(r.certChain) && strings(r.trustAnchors) && typeof r.notBefore === 'string' && typeof r.notAfter === 'string';
}

export class HttpsCertificateSigner implements CertificateSigner {
  readonly #opts: HttpsSignerOptions;
  #agent: Agent | undefined;
  /** The anchors #agent was made with: a change (a rotation) gets a new keep-alive pool. */
  #agentCa = '';
  readonly #where: string;
  #clockOffsetMs: number | null = null;

  constructor(opts: HttpsSignerOptions) {
    if (opts.socketPath === undefined && (opts.host === undefined || opts.port === undefined)) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, 'the CSR client needs control\'s host and port, or a unix socket path');
    }
    this.#opts = opts;
    this.#where = opts.socketPath !== undefined ? `unix:${opts.socketPath}` : `${opts.host}:${opts.port}`;
  }

  async sign(csrPem: string): Promise<CsrResponse> {
    let token: string;
    try {
      token = await this.#opts.token();
    } catch (err) {
      throw new WeftError(ErrorCodes.CSR_UNAUTHENTICATED, `cannot read the node credential: ${(err as Error).message}`, { cause: err });
    }
    const body: CsrRequest = this.#opts.ttlSeconds === undefined ? { csr: csrPem } : { csr: csrPem, ttlSeconds: this.#opts.ttlSeconds };
    const agent = await this.#agentFor();
    const sentAt = Date.now();
    const { status, text } = await this.#post(agent, JSON.stringify(body), token);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new WeftError(ErrorCodes.CA_UNAVAILABLE, `control at ${this.#where} answered ${status} with a body that is not JSON; is something else listening there?`);
    }
    if (status === 200 && isCsrResponse(parsed)) {
      // Control's signing time against the middle of our round trip: skew to within half of it.
      const issued = Date.parse(parsed.issuedAt ?? '');
      if (Number.isFinite(issued)) this.#clockOffsetMs = Math.round(issued - (sentAt + Date.now()) / 2);
      return parsed;
    }
    if (status !== 200 && parsed !== null && typeof parsed === 'object' && typeof (parsed as ApiError).code === 'string') {
      const api = parsed as ApiError;
      const code = (KNOWN_CODES.has(api.code) ? api.code : ErrorCodes.CA_UNAVAILABLE) as ErrorCode;
      throw new WeftError(code, `control refused the CSR (${status}): ${String(api.message)}`);
    }
    throw new WeftError(ErrorCodes.CA_UNAVAILABLE, `control at ${this.#where} answered ${status} with an unexpected body`);
  }

  /**
   * Control's clock minus ours, from its last answer: its signing time when it sends one, else
   * the Date header (whole seconds, so ±1 s); null before the first answer.
   */
  clockOffsetMs(): number | null {
    return this.#clockOffsetMs;
  }

  close(): void {
    this.#agent?.destroy();
  }

  async #agentFor(): Promise<Agent> {
    const ca = [...await resolveControlAnchors(this.#opts.caPem)];
    const key = ca.join('\n');
    if (this.#agent === undefined || key !== this.#agentCa) {
      // The old pool is dropped, not destroyed: a CSR in flight on it finishes, and its idle
      // sockets close when control's keep-alive timeout ends them.
      // One kept-alive connection saves a TLS handshake per CSR when many pods start at once.
      this.#agent = new Agent({ keepAlive: true, maxSockets: 4, ca });
      this.#agentCa = key;
    }
    return this.#agent;
  }

  #post(agent: Agent, payload: string, token: string): Promise<{ status: number; text: string }> {
    const o = this.#opts;
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        const code = errorCode(err);
        const hint = code === 'CERT_NOT_YET_VALID' || code === 'CERT_HAS_EXPIRED'
          ? 'control\'s certificate is outside its validity by this node\'s clock: are the clocks of this node and control in sync (NTP)?'
          : code.startsWith('ERR_TLS') || /certificate|altname|self.signed/i.test(err.message)
            ? 'control\'s certificate did not verify against the trust bundle; is the CA bundle current?'
            : 'is control running and reachable?';
        reject(new WeftError(ErrorCodes.CA_UNAVAILABLE, `CSR to control at ${this.#where} failed: ${code} ${err.message}; ${hint}`, { cause: err }));
      };
      const req = request(
        {
          agent,
          ...(o.socketPath !== undefined ? { socketPath: o.socketPath } : { host: o.host, port: o.port }),
          servername: o.servername,
          method: 'POST',
          path: CSR_PATH,
          timeout: o.timeoutMs ?? 10_000,
          headers: {
            // Host names control's name, not the socket, so virtual hosting and logs make sense.
            host: o.servername,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          // The middle of the second the Date names is the best guess at control's time now.
          const date = Date.parse(res.headers.date ?? '');
          if (Number.isFinite(date)) this.#clockOffsetMs = date + 500 - Date.now();
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER) return res.destroy(new Error(`answer larger than ${MAX_ANSWER} bytes`));
            chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', fail);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', fail);
      req.end(payload);
    });
  }
}
