// What the connection-level decision knew about a captured HTTP connection, carried on its socket
// to every request and upgrade the HTTP servers hand back for it (they give us the socket, not our
// own object). One symbol-keyed field: set once when the connection is handed to a server.
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { RequestSource } from '../http/exchange.ts';
import type { HttpDestination } from '../http/router.ts';
import type { AppProtocol } from '../http/upstream.ts';
import type { ConnectionContext } from '../telemetry/telemetry.ts';

export interface HttpConnection {
  source: WorkloadRecord;
  /** The source's identity and its address as this agent saw it (the client socket's peer). */
  from: RequestSource;
  destination: HttpDestination;
  proto: AppProtocol;
  /** `ip:port` the app dialled: the authority when a request carries no Host. */
  original: string;
  /** Telemetry's view of the connection (labels for request events). */
  ctx?: ConnectionContext;
  /**
   * Gives back one request's slot of the per-workload limit: made at the connection's first
   * request and shared by all of them (a request's 'close' listener), not a closure per request.
   */
  releaseRequest?: () => void;
}

const CONN = Symbol('weft.httpConnection');
type Tagged = { [CONN]?: HttpConnection };

export function tagConnection(socket: object, conn: HttpConnection): void {
  (socket as Tagged)[CONN] = conn;
}

/** The connection a request's socket was tagged with; undefined for a socket we never handed over. */
export function connectionOf(socket: object | null | undefined): HttpConnection | undefined {
  return socket === null || socket === undefined ? undefined : (socket as Tagged)[CONN];
}
