// One agent's config stream, from hello to close. States:
//   awaiting-hello → authenticating → streaming → closed
// A session only ever sends what the store says, in version order: the snapshot is taken and
// sent, and the store subscription attached, in one synchronous step, so no change can fall in
// between the snapshot and the first delta.
import type { WebSocket, RawData } from 'ws';
import { ErrorCodes, WeftError, isWeftError, type ErrorCode } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { NodeAuthenticator } from '../auth/authenticator.ts';
import { Audience, type FrameCache } from './frame-cache.ts';
import type { ModelChange, ModelStore } from '../model/model-store.ts';
import { STREAM_PROTOCOL_VERSION, type ControlMessage, type HelloMessage } from '../api/stream.ts';
import type { SummaryMessage, TapEventsMessage, TapStartMessage, TapStopMessage } from '../api/summary.ts';
import { parseAgentMessage } from './agent-messages.ts';
import { reasonOf } from '../metrics/rejections.ts';

/** What control knows of a connected agent; shown in config dumps. */
export interface AgentInfo {
  node: string;
  agentVersion: string;
  remoteAddress: string;
  connectedSince: string;
  /** Latest version sent (snapshot or delta). */
  sentVersion: number;
  /** Latest version the agent acked; null until the snapshot is acked. */
  ackedVersion: number | null;
  nacks: number;
  lastNack: { version: number; reason: string; at: string } | null;
}

export interface SessionSettings {
  store: ModelStore;
  /** Snapshot and delta frames, encoded once for every session. */
  frames: FrameCache;
  authenticator: NodeAuthenticator;
  log: Logger;
  helloTimeoutMs: number;
  maxBufferedBytes: number;
  /** Called once the agent is authenticated (the server keeps one session per node). */
  onAuthenticated(session: AgentSession): void;
  onClosed(session: AgentSession): void;
  /** Observability frames (summaries, tap events) from a streaming agent. */
  onObservability?(session: AgentSession, msg: SummaryMessage | TapEventsMessage): void;
  /** The agent's snapshot went out: it can now be asked for taps. */
  onStreaming?(session: AgentSession): void;
  /** Bad input that cost the agent its stream, by reason (control's rejected-input metric). */
  onRejected?(reason: string): void;
}

type State = 'awaiting-hello' | 'authenticating' | 'streaming' | 'closed';

// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_PROTOCOL = 1002;
const CLOSE_POLICY = 1008;
const CLOSE_TRY_AGAIN = 1013;

function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export class AgentSession {
  readonly #ws: WebSocket;
  readonly #s: SessionSettings;
  readonly #remote: string;
  readonly #since = new Date().toISOString();
  #state: State = 'awaiting-hello';
  #log: Logger;
  #hello: HelloMessage | null = null;
  #node: string | null = null;
  #helloTimer: NodeJS.Timeout | null;
  #unsubscribe: (() => void) | null = null;
  #sent = 0;
  #acked: number | null = null;
  #nacks = 0;
  #lastNack: AgentInfo['lastNack'] = null;
  /** Cleared at each keepalive ping, set by the pong. */
  alive = true;

  constructor(ws: WebSocket, remoteAddress: string, settings: SessionSettings) {
    this.#ws = ws;
    this.#s = settings;
    this.#remote = remoteAddress;
    this.#log = settings.log.child('session');
    this.#helloTimer = setTimeout(() => {
      this.#fail(ErrorCodes.STREAM_PROTOCOL, `no hello within ${settings.helloTimeoutMs} ms of connecting`, CLOSE_POLICY);
    }, settings.helloTimeoutMs);
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err) => {
      // Oversized frames, bad UTF-8, resets: ws closes the socket itself; we only record why.
      const code = (err as Error & { code?: string }).code ?? '';
      settings.onRejected?.(code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'stream_frame_too_large' : 'stream_frame_invalid');
      this.#log.warn('agent stream error', { node: this.#hello?.node, remote: this.#remote, err });
    });
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
  }

  /** The authenticated node; null before authentication succeeds. */
  get node(): string | null {
    return this.#node;
  }

  info(): AgentInfo | null {
    if (this.#hello === null || this.#state !== 'streaming') return null;
    return {
      node: this.#hello.node,
      agentVersion: this.#hello.agentVersion,
      remoteAddress: this.#remote,
      connectedSince: this.#since,
      sentVersion: this.#sent,
      ackedVersion: this.#acked,
      nacks: this.#nacks,
      lastNack: this.#lastNack,
    };
  }

  ping(): void {
    if (!this.alive) {
      this.#log.warn('agent missed a keepalive; dropping it', { node: this.#hello?.node, remote: this.#remote });
      this.#ws.terminate();
      return;
    }
    this.alive = false;
    this.#ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#ws.close(code, reason);
    this.#teardown();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === 'closed') return;
    try {
      if (isBinary) throw new WeftError(ErrorCodes.STREAM_PROTOCOL, 'binary frame: the config stream carries JSON text frames');
      const msg = parseAgentMessage(frameText(data));
      if (msg.type === 'hello') {
        if (this.#state !== 'awaiting-hello') throw new WeftError(ErrorCodes.STREAM_PROTOCOL, 'hello sent twice');
        void this.#onHello(msg);
        return;
      }
      if (this.#state !== 'streaming') throw new WeftError(ErrorCodes.STREAM_PROTOCOL, `${msg.type} before the snapshot: send hello first and wait for the snapshot`);
      if (msg.type === 'ack') {
        if (msg.version > this.#sent) {
          this.#log.warn('agent acked a version never sent', { node: this.#hello?.node, version: msg.version, sent: this.#sent });
          return;
        }
        if (this.#acked === null || msg.version > this.#acked) this.#acked = msg.version;
        return;
      }
      if (msg.type === 'summary' || msg.type === 'tap-events') {
        this.#s.onObservability?.(this, msg);
        return;
      }
      this.#nacks++;
      this.#lastNack = { version: msg.version, reason: msg.reason, at: new Date().toISOString() };
      this.#log.warn('agent refused a config version', { node: this.#hello?.node, version: msg.version, reason: msg.reason });
    } catch (err) {
      // A bug of ours must cost one agent its stream (it resyncs), never the whole control.
      if (!isWeftError(err)) this.#log.error('config stream handler failed', { err });
      const e = isWeftError(err) ? err : new WeftError(ErrorCodes.STREAM_PROTOCOL, 'control could not handle the message; reconnect to resync');
      this.#fail(e.code, e.message, CLOSE_PROTOCOL);
    }
  }

  async #onHello(hello: HelloMessage): Promise<void> {
    this.#state = 'authenticating';
    this.#hello = hello;
    this.#log = this.#log.child(hello.node);
    if (hello.protocol !== STREAM_PROTOCOL_VERSION) {
      this.#fail(ErrorCodes.STREAM_PROTOCOL, `protocol ${hello.protocol} is not supported; this control speaks ${STREAM_PROTOCOL_VERSION} — upgrade the agent or control so they match`, CLOSE_PROTOCOL);
      return;
    }
    let node: string;
    try {
      ({ node } = await this.#s.authenticator.authenticate(hello.credential));
    } catch (err) {
      const message = isWeftError(err) ? err.message : 'the credential could not be checked';
      if (!isWeftError(err)) this.#log.error('authenticator failed', { err });
      this.#fail(ErrorCodes.STREAM_UNAUTHENTICATED, message, CLOSE_POLICY);
      return;
    }
    if (this.#state !== 'authenticating') return; // closed while we waited
    if (node !== hello.node) {
      this.#log.warn('agent credential belongs to another node', { claimed: hello.node, authenticated: node, remote: this.#remote });
      this.#fail(ErrorCodes.STREAM_UNAUTHENTICATED, `the credential does not belong to node ${JSON.stringify(hello.node)}`, CLOSE_POLICY);
      return;
    }
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
    this.#state = 'streaming';
    this.#node = node;
    this.#s.onAuthenticated(this);
    this.#sendSnapshot();
  }

  #sendSnapshot(): void {
    // What this agent is sent: every kind, less the feature kinds its hello did not announce.
    const audience = new Audience(this.#hello?.features ?? []);
    const { version, count, frames } = this.#s.frames.snapshot(audience);
    // Deltas that happen while the snapshot is on its way wait behind it, in order.
    let pending: ModelChange[] | null = [];
    this.#unsubscribe = this.#s.store.subscribe((change) => {
      if (change.version <= version) return;
      if (pending !== null) pending.push(change);
      else if (this.#send(this.#s.frames.delta(change, audience))) this.#sent = change.version;
    });
    // One frame at a time, each once the previous reached the kernel: pushing a 25 MB snapshot
    // into the TLS socket at once makes each connection hold that much encrypted data (and its
    // buffers keep the high-water mark), which is what made control's memory grow per agent.
    let i = 0;
    const next = (err?: Error | null): void => {
      // Node's write callbacks pass null on success.
      if (err != null || this.#state === 'closed') return;
      if (i < frames.length) {
        if (this.#send(frames[i++], next)) return;
        return;
      }
      this.#sent = version;
      const queued = pending ?? [];
      pending = null;
      for (const change of queued) if (this.#send(this.#s.frames.delta(change, audience))) this.#sent = change.version;
      this.#s.onStreaming?.(this);
      this.#log.info('agent streaming', { remote: this.#remote, agentVersion: this.#hello?.agentVersion, version, records: count });
    };
    next();
  }

  /** Sends one encoded frame (shared with other sessions); drops the agent if it is not reading. */
  #send(frame: Buffer, written?: (err?: Error | null) => void): boolean {
    if (this.#state === 'closed') return false;
    this.#ws.send(frame, { binary: false }, written);
    if (this.#ws.bufferedAmount > this.#s.maxBufferedBytes) {
      this.#log.warn('agent is not reading its config stream; dropping it so it resyncs', { remote: this.#remote, buffered: this.#ws.bufferedAmount });
      this.#ws.close(CLOSE_TRY_AGAIN, 'too far behind; reconnect to resync');
      this.#teardown();
      // A reader that stopped will not read the close frame either.
      const ws = this.#ws;
      setTimeout(() => ws.terminate(), 1000).unref();
      return false;
    }
    return true;
  }

  /**
   * Sends a tap request. Unlike config frames these are not worth dropping the agent for: if the
   * agent is far behind the request is skipped and the dashboard simply sees no events from it.
   */
  sendTap(msg: TapStartMessage | TapStopMessage): void {
    if (this.#state !== 'streaming' || this.#ws.bufferedAmount > this.#s.maxBufferedBytes / 2) return;
    this.#ws.send(JSON.stringify(msg));
  }

  #fail(code: ErrorCode, message: string, closeCode: number): void {
    if (this.#state === 'closed') return;
    this.#s.onRejected?.(reasonOf(code));
    this.#log.warn('closing agent stream', { remote: this.#remote, node: this.#hello?.node, code, message });
    const frame: ControlMessage = { type: 'error', code, message };
    this.#ws.send(JSON.stringify(frame));
    this.#ws.close(closeCode, code);
    this.#teardown();
  }

  #onClose(code: number, reason: string): void {
    if (this.#state === 'streaming') this.#log.info('agent disconnected', { remote: this.#remote, code, reason });
    this.#teardown();
  }

  #teardown(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#s.onClosed(this);
  }
}
