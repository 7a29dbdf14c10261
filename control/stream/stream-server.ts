// The config stream endpoint. It attaches to the HTTPS server control already runs on 15012
// (the CSR API shares the port), taking only WebSocket upgrades on STREAM_PATH. TLS is the
// server's business; who the agent is, is the authenticator's.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../common/log.ts';
import type { NodeAuthenticator } from '../auth/authenticator.ts';
import type { ModelStore } from '../model/model-store.ts';
import { STREAM_MAX_FRAME, STREAM_PATH } from '../api/stream.ts';
import type { SummaryMessage, TapEventsMessage } from '../api/summary.ts';
import { AgentSession, type AgentInfo } from './agent-session.ts';
import { FrameCache, type SnapshotBuild } from './frame-cache.ts';

export interface StreamServerOptions {
  store: ModelStore;
  authenticator: NodeAuthenticator;
  log: Logger;
  /** An agent that connects must say hello this soon, or it holds a socket for nothing. */
  helloTimeoutMs?: number;
  /** Keepalive ping period; an agent that misses one whole period is dropped. */
  pingIntervalMs?: number;
  /** Records per snapshot frame: keeps every frame far below STREAM_MAX_FRAME. */
  snapshotChunk?: number;
  /** A model snapshot was encoded (control's telemetry: count, duration, span). */
  onSnapshotBuilt?: (b: SnapshotBuild) => void;
  /** An agent whose unsent backlog grows past this is dropped and resyncs on reconnect. */
  maxBufferedBytes?: number;
  /** Summaries and tap events from agents (control/metrics and the dashboard's tap). */
  onObservability?(session: AgentSession, msg: SummaryMessage | TapEventsMessage): void;
  /** An agent got its snapshot (open taps are started on it). */
  onStreaming?(session: AgentSession): void;
  /** A stream closed for bad input (protocol errors, refused credentials, oversized frames), by reason. */
  onRejected?(reason: string): void;
}

export interface StreamServer {
  /** Authenticated agents, for config dumps. */
  agents(): AgentInfo[];
  /** Streaming sessions, one per node (the tap fans out to them). */
  sessions(): AgentSession[];
  /** Stops taking upgrades and closes every agent stream (agents reconnect elsewhere). */
  close(): Promise<void>;
}

const CLOSE_GOING_AWAY = 1001;
const CLOSE_REPLACED = 4000;

export function attachStreamServer(server: HttpServer | HttpsServer, options: StreamServerOptions): StreamServer {
  const log = options.log.child('stream');
  const wss = new WebSocketServer({ noServer: true, maxPayload: STREAM_MAX_FRAME, perMessageDeflate: false });
  const sessions = new Set<AgentSession>();
  const byNode = new Map<string, AgentSession>();
  let closed = false;

  const settings = {
    store: options.store,
    authenticator: options.authenticator,
    log,
    helloTimeoutMs: options.helloTimeoutMs ?? 10_000,
    frames: new FrameCache(options.store, options.snapshotChunk ?? 1000, options.onSnapshotBuilt),
    maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
    onObservability: options.onObservability,
    onStreaming: options.onStreaming,
    onRejected: options.onRejected,
    onAuthenticated(session: AgentSession): void {
      const node = session.node as string;
      const previous = byNode.get(node);
      // A node runs one agent: a new stream means the old one is dead or about to be.
      if (previous !== undefined && previous !== session) previous.close(CLOSE_REPLACED, 'replaced by a newer stream from the same node');
      byNode.set(node, session);
    },
    onClosed(session: AgentSession): void {
      sessions.delete(session);
      const node = session.node;
      if (node !== null && byNode.get(node) === session) byNode.delete(node);
    },
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== STREAM_PATH) {
      // Other upgrade handlers may share the server; answer only when nobody else will.
      if (server.listenerCount('upgrade') === 1) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      return;
    }
    if (closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', (err) => log.debug('stream socket error before upgrade', { err }));
    wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = `${req.socket.remoteAddress ?? 'unix'}${req.socket.remotePort !== undefined ? `:${req.socket.remotePort}` : ''}`;
      sessions.add(new AgentSession(ws, remote, settings));
    });
  };
  server.on('upgrade', onUpgrade);

  const keepalive = setInterval(() => {
    for (const s of sessions) s.ping();
  }, options.pingIntervalMs ?? 15_000);
  keepalive.unref();

  return {
    agents(): AgentInfo[] {
      const out: AgentInfo[] = [];
      for (const s of byNode.values()) {
        const info = s.info();
        if (info !== null) out.push(info);
      }
      return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    },
    sessions(): AgentSession[] {
      return [...byNode.values()].filter((s) => s.info() !== null);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      server.off('upgrade', onUpgrade);
      clearInterval(keepalive);
      for (const s of [...sessions]) s.close(CLOSE_GOING_AWAY, 'control is shutting down');
      // ws waits for the peers' close frames; those that never answer are cut after a grace period.
      const clients = [...wss.clients];
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (clients.length > 0) {
        const deadline = setTimeout(() => clients.forEach((c) => c.terminate()), 2000);
        await Promise.all(clients.map((c) => (c.readyState === c.CLOSED ? null : new Promise((r) => c.once('close', r)))));
        clearTimeout(deadline);
      }
    },
  };
}
