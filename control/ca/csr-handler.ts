// HTTP handler for the CSR API (POST CSR_PATH on control's TLS port). It authenticates the agent
// from its bearer credential, asks the model which identities are scheduled on that agent's node,
// and lets the CA sign only those. Every refusal is an ApiError body with a stable code.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, isWeftError } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { CSR_MAX_BODY, CSR_PATH, type ApiError, type CsrRequest } from '../api/csr.ts';
import type { CertificateAuthority } from './issuer.ts';
import { reasonOf } from '../metrics/rejections.ts';

/**
 * Turns an agent's credential into the node it runs on, rejecting when the credential is not valid.
 * Structurally the same as control/auth's NodeAuthenticator, so that one can be passed as is.
 */
export interface NodeAuthenticator {
  authenticate(credential: string): Promise<string>;
}

export interface CsrHandlerOptions {
  ca: CertificateAuthority;
  authenticator: NodeAuthenticator;
  /** SPIFFE IDs of the pods currently scheduled on `node`, from the cluster model. */
  identitiesOnNode(node: string): ReadonlySet<string>;
  logger?: Logger;
  maxBodyBytes?: number;
  /** A refused request, by reason (`csr_<code>`, `csr_too_large`): control's rejected-input metric. */
  onRejected?: (reason: string) => void;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** How far past the limit we keep reading (and discarding) so the client sees our 413, not a reset. */
const DRAIN_LIMIT = 1024 * 1024;

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const tooLarge = (): HttpError => new HttpError(413, ErrorCodes.CSR_INVALID, `request body is larger than ${limit} bytes`);
    let size = 0;
    let over = false;
    const chunks: Buffer[] = [];
    const finishOver = (): void => {
      over = true;
      chunks.length = 0;
      reject(tooLarge());
    };
    if (Number.isFinite(declared) && declared > limit) finishOver();
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit + DRAIN_LIMIT) req.destroy();
        return;
      }
      if (size > limit) return finishOver();
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!over) reject(err);
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent) return;
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(json);
}

function bearer(req: IncomingMessage): string {
  const header = req.headers.authorization;
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) {
    throw new HttpError(401, ErrorCodes.CSR_UNAUTHENTICATED, 'missing "Authorization: Bearer <credential>" header; agents send their node credential');
  }
  return m[1];
}

function parseRequest(body: Buffer): CsrRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, ErrorCodes.CSR_INVALID, 'request body is not JSON; expected {"csr": "<PEM>", "ttlSeconds"?: number}');
  }
  if (parsed === null || typeof parsed !== 'object' || typeof (parsed as CsrRequest).csr !== 'string') {
    throw new HttpError(400, ErrorCodes.CSR_INVALID, 'request body lacks "csr" (a PEM PKCS#10 request string)');
  }
  const { csr, ttlSeconds } = parsed as CsrRequest;
  if (ttlSeconds !== undefined && typeof ttlSeconds !== 'number') {
    throw new HttpError(400, ErrorCodes.CSR_INVALID, '"ttlSeconds" must be a number of seconds');
  }
  return ttlSeconds === undefined ? { csr } : { csr, ttlSeconds };
}

const STATUS_OF_CODE: Record<string, number> = {
  [ErrorCodes.CSR_INVALID]: 400,
  [ErrorCodes.CSR_UNAUTHENTICATED]: 401,
  [ErrorCodes.CSR_FORBIDDEN]: 403,
};

export function createCsrHandler(opts: CsrHandlerOptions): RequestHandler {
  const log = opts.logger ?? createLogger('control.ca');
  const limit = opts.maxBodyBytes ?? CSR_MAX_BODY;

  return async (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    let node: string | undefined;
    try {
      if (path !== CSR_PATH) throw new HttpError(404, ErrorCodes.HTTP_ROUTE, `no such endpoint ${path}; certificates are requested with POST ${CSR_PATH}`);
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new HttpError(405, ErrorCodes.HTTP_ROUTE, `${req.method} is not allowed on ${CSR_PATH}; use POST`);
      }
      const credential = bearer(req);
      try {
        node = await opts.authenticator.authenticate(credential);
      } catch (err) {
        log.warn('csr credential refused', { err, remote: req.socket.remoteAddress });
        const why = err instanceof Error ? `: ${err.message}` : '';
        throw new HttpError(401, ErrorCodes.CSR_UNAUTHENTICATED, `the node credential was not accepted${why}`);
      }
      const request = parseRequest(await readBody(req, limit));
      const allowedIdentities = opts.identitiesOnNode(node);
      const response = await opts.ca.sign(request.csr, {
        allowedIdentities,
        requester: node,
        ...(request.ttlSeconds === undefined ? {} : { ttlSeconds: request.ttlSeconds }),
      });
      log.info('certificate issued', { node, notAfter: response.notAfter });
      send(res, 200, response);
    } catch (err) {
      const refused = err instanceof HttpError ? err.code : isWeftError(err) ? err.code : ErrorCodes.CA_UNAVAILABLE;
      opts.onRejected?.(err instanceof HttpError && err.status === 413 ? 'csr_too_large' : `csr_${reasonOf(refused).replace(/^csr_/, '')}`);
      if (err instanceof HttpError) {
        if (err.status >= 400 && err.status !== 404) log.warn('csr refused', { node, status: err.status, code: err.code, reason: err.message });
        send(res, err.status, { code: err.code, message: err.message } satisfies ApiError, err.status === 413);
        return;
      }
      if (isWeftError(err) && STATUS_OF_CODE[err.code] !== undefined) {
        log.warn('csr refused', { node, err });
        send(res, STATUS_OF_CODE[err.code], err.toJSON() satisfies ApiError);
        return;
      }
      log.error('csr signing failed', { node, err });
      const code = isWeftError(err) ? err.code : ErrorCodes.CA_UNAVAILABLE;
      send(res, 500, { code, message: 'the CA could not sign this request; see control logs' } satisfies ApiError);
    }
  };
}
