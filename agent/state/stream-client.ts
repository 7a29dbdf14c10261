// The agent's end of the config stream. It dials control (wss over TCP, or over a unix socket
// when control and agent share a filesystem, as in the testbed), proves which node it is, and
// turns snapshot/delta messages into AgentState. When the stream breaks the agent keeps serving
// from the state it has; it reconnects with capped, jittered exponential backoff (so a control
// restart is not met by every agent at the same instant) and the next snapshot replaces the state.
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { isIP, type Socket } from 'node:net';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { ErrorCodes, errorCode } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { ResourceRecord } from '../../control/api/model.ts';
import type { TapStartMessage, TapStopMessage } from '../../control/api/summary.ts';
import { STREAM_MAX_FRAME, STREAM_PATH, STREAM_PROTOCOL_VERSION, type AgentMessage, type ControlMessage } from '../../control/api/stream.ts';
import type { AgentState } from './agent-state.ts';
import { ControlMessageError, parseControlMessage } from './control-messages.ts';

/** Optional record kinds this agent understands (record-check.ts checks each), named in its hello. */
const AGENT_FEATURES = ['pending-workload'];
import { explainControlFailure } from './control-failure.ts';
import { resolveControlAnchors, type ControlAnchors } from '../identity/control-trust.ts';

export interface StreamClientOptions {
  /** `wss://host:port` (STREAM_PATH is added when the URL has no path). */
  url: string;
  /** Dial this unix socket instead of the URL's host and port; TLS still runs over it. */
  socketPath?: string;
  /** Trust anchors for control's serving certificate (a function is asked on every connect). */
  caPem: ControlAnchors;
  /** Name control's certificate must carry; defaults to the URL's host. */
  servername?: string;
  node: string;
  agentVersion: string;
  /** Read per connection: projected tokens are rotated on disk under a running agent. */
  credential: string | (() => string | Promise<string>);
  state: AgentState;
  log: Logger;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** No ping or message from control for this long means the stream is dead. */
  keepaliveTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Control opens or closes a live tap on this agent (the dashboard's tap view). */
  onTap?(msg: TapStartMessage | TapStopMessage): void;
  /** The stream closed: whatever control asked of this connection (taps) is void. */
  onDisconnected?(): void;
  /** A snapshot was applied on a new connection: a good moment to report (a first summary). */
  onSynced?(): void;
}

/** A failure to reach control with the same cause is logged again after this long, not per retry. */
const UNREACHABLE_LOG_INTERVAL_MS = 60_000;

/** Observability frames may queue this much before they are refused (config frames never are). */
const MAX_OBSERVABILITY_BACKLOG = 1 << 20;

export interface StreamStatus {
  connected: boolean;
  /** A snapshot has been applied on the current connection. */
  synced: boolean;
  lastVersion: number | null;
  lastError: { code: string; message: string; at: string } | null;
  /** When the current state (connected or not) began. */
  since: string;
  reconnects: number;
}

interface Collecting {
  version: number;
  records: ResourceRecord[];
}

export class StreamClient {
  readonly #o: StreamClientOptions;
  readonly #url: string;
  readonly #log: Logger;
  #ws: WebSocket | null = null;
  #closed = false;
  #started = false;
  #connected = false;
  #synced = false;
  #since = new Date().toISOString();
  #lastError: StreamStatus['lastError'] = null;
  #attempt = 0;
  #reconnects = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  #collecting: Collecting | null = null;
  /** What the last snapshot-sent said control honours of this agent's features. */
  #controlFeatures: ReadonlySet<string> = new Set();
  /** The cause last logged as WEFT_ERR_CONTROL_UNREACHABLE, and when; null once connected. */
  #unreachableLogged: { cause: string; at: number } | null = null;
  #readyResolve!: () => void;
  readonly #ready: Promise<void>;

  constructor(options: StreamClientOptions) {
    this.#o = options;
    const u = new URL(options.url);
    if (u.protocol !== 'wss:') throw new TypeError(`config stream URL must be wss://, got ${options.url}`);
    if (u.pathname === '/' || u.pathname === '') u.pathname = STREAM_PATH;
    this.#url = u.toString();
    this.#log = options.log.child('stream');
    this.#ready = new Promise((resolve) => {
      this.#readyResolve = resolve;
    });
  }

  /** Resolves once the first snapshot is applied: until then the agent has nothing to route by. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Whether control, as of the last snapshot, sends records of this optional kind (a feature). */
  controlSends(feature: string): boolean {
    return this.#controlFeatures.has(feature);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#connect();
  }

  status(): StreamStatus {
    return {
      connected: this.#connected,
      synced: this.#synced,
      lastVersion: this.#o.state.version,
      lastError: this.#lastError,
      since: this.#since,
      reconnects: this.#reconnects,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#clearWatchdog();
    const ws = this.#ws;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      const cut = setTimeout(() => ws.terminate(), 1000);
      ws.once('close', () => clearTimeout(cut));
      ws.close(1000, 'agent shutting down');
    });
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    let credential: string;
    try {
      credential = typeof this.#o.credential === 'string' ? this.#o.credential : await this.#o.credential();
    } catch (err) {
      this.#noteError(err, false);
      this.#scheduleReconnect();
      return;
    }
    let ca: string[];
    try {
      ca = [...await resolveControlAnchors(this.#o.caPem)];
    } catch (err) {
      this.#noteError(err, false);
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) return;
    const servername = this.#o.servername ?? new URL(this.#url).hostname;
    const socketPath = this.#o.socketPath;
    const u = new URL(this.#url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = u.port === '' ? 443 : Number(u.port);
    // We dial TLS ourselves so the same trust (CA + servername) applies over TCP and unix sockets.
    // The certificate is checked against `servername` whatever we dial (an IP, a unix socket);
    // SNI is sent only when it is a DNS name, since SNI cannot carry an IP address.
    const tlsOpts = {
      ca,
      ...(isIP(servername) === 0 ? { servername } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(servername, cert),
    };
    const dial = (): Socket => tlsConnect(socketPath === undefined ? { ...tlsOpts, host, port } : { ...tlsOpts, path: socketPath });
    const ws = new WebSocket(this.#url, {
      maxPayload: STREAM_MAX_FRAME,
      perMessageDeflate: false,
      handshakeTimeout: this.#o.handshakeTimeoutMs ?? 10_000,
      // ws types this as net.createConnection; any function returning a connected Duplex works.
      createConnection: dial as unknown as ClientOptions['createConnection'],
    });
    this.#ws = ws;
    ws.on('open', () => {
      this.#connected = true;
      this.#unreachableLogged = null;
      this.#since = new Date().toISOString();
      this.#armWatchdog(ws);
      this.#log.info('connected to control', { url: this.#url, socketPath });
      this.#send(ws, { type: 'hello', protocol: STREAM_PROTOCOL_VERSION, node: this.#o.node, agentVersion: this.#o.agentVersion, credential, features: AGENT_FEATURES });
    });
    ws.on('ping', () => this.#armWatchdog(ws));
    ws.on('message', (data, isBinary) => {
      this.#armWatchdog(ws);
      this.#onMessage(ws, data, isBinary);
    });
    ws.on('error', (err) => this.#noteError(err));
    ws.on('close', (code, reason) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      const wasConnected = this.#connected;
      this.#connected = this.#synced = false;
      this.#collecting = null;
      this.#clearWatchdog();
      this.#o.onDisconnected?.();
      if (wasConnected) {
        this.#since = new Date().toISOString();
        this.#log.warn('config stream closed; serving from the last state', { code, reason: reason.toString('utf8'), version: this.#o.state.version });
      }
      this.#scheduleReconnect();
    });
  }

  #onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    let msg: ControlMessage;
    try {
      if (isBinary) throw new ControlMessageError('binary frame', null);
      msg = parseControlMessage(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
      this.#handle(ws, msg);
    } catch (err) {
      if (!(err instanceof ControlMessageError)) this.#log.error('applying a config message failed', { err });
      const version = err instanceof ControlMessageError ? err.version : null;
      this.#refuse(ws, version, err instanceof Error ? err.message : String(err));
    }
  }

  #handle(ws: WebSocket, msg: ControlMessage): void {
    const state = this.#o.state;
    switch (msg.type) {
      case 'error':
        this.#lastError = { code: msg.code, message: msg.message, at: new Date().toISOString() };
        this.#log.warn('control refused the stream', { code: msg.code, message: msg.message });
        return;
      case 'snapshot':
        if (this.#collecting === null || this.#collecting.version !== msg.version) {
          if (this.#collecting !== null) throw new ControlMessageError(`snapshot chunk for version ${msg.version} inside snapshot ${this.#collecting.version}`, msg.version);
          this.#collecting = { version: msg.version, records: [] };
        }
        for (const r of msg.resources) this.#collecting.records.push(r);
        return;
      case 'snapshot-sent': {
        const got = this.#collecting ?? { version: msg.version, records: [] };
        this.#collecting = null;
        if (got.version !== msg.version) throw new ControlMessageError(`snapshot-sent for ${msg.version} after chunks of ${got.version}`, msg.version);
        if (got.records.length !== msg.count) throw new ControlMessageError(`snapshot announced ${msg.count} records, carried ${got.records.length}`, msg.version);
        this.#controlFeatures = new Set(msg.features ?? []);
        const change = state.applySnapshot(msg.version, got.records);
        this.#synced = true;
        this.#attempt = 0;
        this.#send(ws, { type: 'ack', version: msg.version });
        this.#log.info('snapshot applied', { version: msg.version, records: got.records.length, changed: change.upserts.length, dropped: change.removes.length });
        this.#readyResolve();
        this.#o.onSynced?.();
        return;
      }
      case 'tap-start':
      case 'tap-stop':
        this.#o.onTap?.(msg);
        return;
      case 'delta':
        if (!this.#synced || this.#collecting !== null) throw new ControlMessageError('delta before the snapshot was complete', msg.version);
        if (state.version !== null && msg.version <= state.version) throw new ControlMessageError(`delta ${msg.version} is not newer than ${state.version}`, msg.version);
        state.applyDelta(msg.version, msg.upserts, msg.removes);
        this.#send(ws, { type: 'ack', version: msg.version });
        return;
    }
  }

  /** Nacks, keeps the current state, and reconnects: the next snapshot puts things right. */
  #refuse(ws: WebSocket, version: number | null, reason: string): void {
    this.#lastError = { code: 'NACK', message: reason, at: new Date().toISOString() };
    this.#log.warn('refusing a config message; will resync', { version, reason });
    this.#send(ws, { type: 'nack', version: version ?? this.#o.state.version ?? 0, reason });
    this.#synced = false;
    this.#collecting = null;
    ws.close(1002, 'config message refused; resyncing');
  }

  /**
   * Sends an observability message (summary, tap events) on the synced stream. False when there is
   * no synced stream or its backlog is past a bound: the caller drops and counts, never queues.
   */
  send(msg: AgentMessage): boolean {
    const ws = this.#ws;
    if (ws === null || !this.#synced || ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > MAX_OBSERVABILITY_BACKLOG) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  #send(ws: WebSocket, msg: AgentMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  /** `dialing`: the error came from reaching control (not from reading the credential). */
  #noteError(err: unknown, dialing = true): void {
    const message = err instanceof Error ? err.message : String(err);
    const code = errorCode(err);
    // A clock problem looks like any TLS failure at debug level; say what it is, once per spell.
    const clock = code === 'CERT_NOT_YET_VALID' || code === 'CERT_HAS_EXPIRED';
    if (clock && this.#lastError?.code !== code) {
      this.#log.error('control\'s certificate is outside its validity by this node\'s clock: are the clocks of this node and control in sync (NTP)?', { code: ErrorCodes.CLOCK_SKEW, cause: code, message });
    } else if (!clock && dialing && !this.#connected) {
      this.#noteUnreachable(code, message);
    }
    this.#lastError = { code, message, at: new Date().toISOString() };
    this.#log.debug('config stream error', { err });
  }

  /**
   * A failed attempt to reach control, logged at warn with what to check: when the cause changes,
   * and again every UNREACHABLE_LOG_INTERVAL_MS while it lasts (not per retry).
   */
  #noteUnreachable(cause: string, detail: string): void {
    const now = Date.now();
    const last = this.#unreachableLogged;
    if (last !== null && last.cause === cause && now - last.at < UNREACHABLE_LOG_INTERVAL_MS) return;
    this.#unreachableLogged = { cause, at: now };
    const address = new URL(this.#url).host;
    this.#log.warn(explainControlFailure(cause, { address, socketPath: this.#o.socketPath }), { code: ErrorCodes.CONTROL_UNREACHABLE, cause, detail, retrying: true });
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const initial = this.#o.backoffInitialMs ?? 200;
    const max = this.#o.backoffMaxMs ?? 5000;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.#attempt, 20));
    // Half fixed, half random: spreads a fleet's reconnects without ever retrying at once.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#attempt++;
    this.#reconnects++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#connect();
    }, delay);
  }

  #armWatchdog(ws: WebSocket): void {
    this.#clearWatchdog();
    this.#watchdog = setTimeout(() => {
      this.#log.warn('no keepalive from control; reconnecting');
      ws.terminate();
    }, this.#o.keepaliveTimeoutMs ?? 45_000);
  }

  #clearWatchdog(): void {
    if (this.#watchdog !== null) clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }
}
