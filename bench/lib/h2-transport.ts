// Transport on node:http2 (h2c, prior knowledge): a fixed set of HTTP/2 connections, requests
// spread over them round robin as concurrent streams. Two flavours: plain HTTP/2 (the status is the
// answer) and gRPC unary (a length-prefixed message in, and the call succeeds only when grpc-status
// is 0, whether it came in the trailers or in a trailers-only response).
import http2 from 'node:http2';
import { codedError, type RequestSpec, type Transport } from './transport.ts';

export type H2Flavour = 'h2' | 'grpc';

/** A gRPC unary request body: the 5-byte prefix (not compressed, big-endian length) and the message. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The Echo service's request (tests/apps/grpc-echo-service.ts: JSON messages) with a text of `bytes` bytes. */
export function echoRequest(bytes: number): Buffer {
  return grpcFrame(Buffer.from(JSON.stringify({ text: 'a'.repeat(bytes), seq: 1 })));
}

/** The call's outcome from its headers and trailers: undefined when OK, else the error code to count. */
export function grpcOutcome(status: number, headers: http2.IncomingHttpHeaders, trailers: http2.IncomingHttpHeaders | undefined): string | undefined {
  if (status !== 200) return `HTTP_${status}`;
  const g = trailers?.['grpc-status'] ?? headers['grpc-status'];
  if (g === undefined) return 'GRPC_NO_STATUS';
  return g === '0' ? undefined : `GRPC_${String(g)}`;
}

export function h2Transport(spec: RequestSpec, flavour: H2Flavour): Transport {
  if (spec.newConnection === true) throw new RangeError('a new connection per request is an HTTP/1.1 workload');
  const origin = `${spec.url.protocol}//${spec.url.host}`;
  const headers: http2.OutgoingHttpHeaders = {
    ':method': spec.method,
    ':path': `${spec.url.pathname}${spec.url.search}`,
    'user-agent': 'weft-load',
  };
  if (flavour === 'grpc') {
    headers['content-type'] = 'application/grpc';
    headers.te = 'trailers';
  } else if (spec.body !== undefined) {
    headers['content-type'] = 'application/octet-stream';
  }
  if (spec.body !== undefined) headers['content-length'] = spec.body.length;

  const sessions: (http2.ClientHttp2Session | undefined)[] = Array.from({ length: spec.connections }, () => undefined);
  let next = 0;
  let closed = false;

  const session = (): http2.ClientHttp2Session => {
    const i = next;
    next = (next + 1) % sessions.length;
    let s = sessions[i];
    if (s === undefined || s.closed || s.destroyed) {
      // A dead session is replaced on next use; its streams have failed on their own.
      s = http2.connect(origin, { peerMaxConcurrentStreams: 1000 });
      s.on('error', () => {});
      const mine = s;
      s.on('close', () => { if (sessions[i] === mine) sessions[i] = undefined; });
      sessions[i] = s;
    }
    return s;
  };

  return {
    name: flavour,
    send() {
      if (closed) return Promise.reject(codedError('ECANCELED', 'transport closed'));
      return new Promise((resolve, reject) => {
        let req: http2.ClientHttp2Stream;
        try {
          req = session().request(headers, { endStream: spec.body === undefined });
        } catch (err) {
          reject(codedError('ECONNRESET', (err as Error).message));
          return;
        }
        let status = 0;
        let head: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders | undefined;
        req.setTimeout(spec.timeoutMs, () => {
          req.close(http2.constants.NGHTTP2_CANCEL);
          reject(codedError('ETIMEDOUT', `no response within ${spec.timeoutMs} ms`));
        });
        req.on('response', (h) => { head = h; status = Number(h[':status'] ?? 0); });
        req.on('trailers', (t) => { trailers = t; });
        req.on('data', () => {});
        req.on('end', () => {
          if (flavour === 'h2') { resolve(status); return; }
          const failed = grpcOutcome(status, head, trailers);
          if (failed === undefined) resolve(status);
          else reject(codedError(failed, `gRPC call failed: ${failed}`));
        });
        req.on('error', (err: Error & { code?: string }) => reject(codedError(err.code ?? 'ERR_HTTP2_STREAM_ERROR', err.message)));
        // A stream reset without an error event (RST_STREAM NO_ERROR, the session going away) ends
        // here; after 'end' or 'error' this reject is a no-op.
        req.on('close', () => reject(codedError('ECONNRESET', 'stream closed before the response ended')));
        if (spec.body !== undefined) req.end(spec.body);
      });
    },
    close() {
      closed = true;
      for (const s of sessions) s?.destroy();
    },
  };
}
