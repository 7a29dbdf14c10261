// How the load generator sends one HTTP/1.1 request over a pool of keep-alive connections.
// Two implementations (http-transport.ts on node:http, raw-transport.ts on node:net) so the
// generator's own overhead can be measured and the cheaper one picked (see load.ts).

export interface RequestSpec {
  url: URL;
  method: string;
  /** Request body; sent with a content-length. */
  body?: Buffer;
  /** Pool size: at most this many connections, each carrying one request at a time. */
  connections: number;
  /** A request not answered this long after it was written is failed as ETIMEDOUT. */
  timeoutMs: number;
  /** Ask for `Connection: close` and open a fresh connection for every request, so each request
   * pays the connection set-up (and, through a mesh, whatever handshake that costs). */
  newConnection?: boolean;
}

export interface Transport {
  readonly name: string;
  /** Sends one request; resolves with the status once the whole response is read, rejects with a coded error. */
  send(): Promise<number>;
  /** Destroys every pooled connection. */
  close(): void;
}

export function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}
