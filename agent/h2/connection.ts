// One HTTP/2 connection (RFC 9113), client or server, over any byte stream: frames in through
// FrameReader, frames out through a batching FrameWriter, HPACK both ways, streams as plain
// objects in a Map, the §5.1 state machine (stream-state.ts), flow control (§5.2, §6.9), SETTINGS
// with ack timeout, PING, GOAWAY, and the limits of limits.ts. It knows nothing of routing: the
// caller gets header lists, data and resets through one H2Handler object (no closure per stream
// or frame) and answers through methods.
//
// Errors: a connection error sends GOAWAY with its code, closes the writer side and reports it
// (onError); a stream error sends RST_STREAM and reports it on the stream (onReset); the
// connection survives it.
import { DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, CLIENT_PREFACE, Flag, FrameType, H2Code, MAX_WINDOW, SettingId, DEFAULT_HEADER_TABLE_SIZE } from './constants.ts';
import { FrameFields, decodeContinuation, decodeData, decodeGoaway, decodeHeaders, decodePing, decodePriority, decodeRstStream, decodeSettings, decodeWindowUpdate, type SettingsSink } from './frame-decode.ts';
import { writeData, writeGoaway, writeHeaders, writePing, writeRstStream, writeSettings, writeSettingsAck, writeWindowUpdate } from './frame-encode.ts';
import { FrameReader, type FrameSink } from './frame-reader.ts';
import { FrameWriter, type ByteSink } from './frame-writer.ts';
import { H2Error, connError, streamError } from './h2-error.ts';
import { contentLength, requestHeadersError, responseHeadersError, trailersError, valueOf } from './header-rules.ts';
import { HpackDecoder } from './hpack-decoder.ts';
import { HpackEncoder } from './hpack-encoder.ts';
import { DEFAULT_LIMITS, WindowCounter, type H2Limits } from './limits.ts';
import type { HeldBytesAccount, HeldBytesConnection } from './held-bytes-budget.ts';
import { ClosedStreams, StreamTable } from './stream-table.ts';
import { ClosedBy, IGNORE, StreamEvent, StreamState, errCode, isConnErr, isStreamErr, onReceive, onSend, type ClosedByValue, type StreamStateValue } from './stream-state.ts';

/** A stream: plain data, owned by the connection; `ctx` is the caller's. */
export interface H2Stream {
  readonly id: number;
  state: StreamStateValue;
  /** What we may still send (peer's window), and what the peer may still send us. */
  sendWindow: number;
  recvWindow: number;
  /** Octets consumed and not yet returned by WINDOW_UPDATE. */
  recvUnacked: number;
  /** Octets delivered that the caller has not consumed yet (manual flow control). */
  held: number;
  /** A final (non-1xx) header list was received. */
  headersReceived: boolean;
  /** content-length announced by the peer (-1: none) and DATA octets received. */
  contentLength: number;
  received: number;
  /** Outgoing DATA waiting for window, its END_STREAM, and trailers to send after it. */
  pending: Buffer[];
  pendingBytes: number;
  pendingEnd: boolean;
  pendingTrailers: string[] | null;
  /**
   * The handler takes a DATA frame that straddles reads in pieces, views of each read, rather than
   * assembled into a buffer of its own (frame-reader.ts): set by one that writes each piece on at
   * once and batches its writes (the HBONE tunnels, codec-tunnel.ts). Others get whole frames.
   */
  pieces: boolean;
  /**
   * The handler copies what it keeps of a DATA payload handed over while `H2Connection.dataLent`
   * (a read into a reused buffer): set by the HBONE tunnels, which copy into pooled slabs. For
   * other streams the connection copies such a payload before onData.
   */
  copiesLent: boolean;
  ctx: unknown;
}

/** What kind of header list onHeaders carries. */
export const HeadersKind = { HEAD: 0, INFORMATIONAL: 1, TRAILERS: 2 } as const;
export type HeadersKindValue = (typeof HeadersKind)[keyof typeof HeadersKind];

export interface H2Handler {
  /** A request (server) or response (client) head, a 1xx, or trailers; `headers` is [name, value, …] and may be kept. */
  onHeaders(stream: H2Stream, headers: string[], endStream: boolean, kind: HeadersKindValue): void;
  /** DATA content (padding removed); `data` may be kept. */
  onData(stream: H2Stream, data: Buffer, endStream: boolean): void;
  /** The stream was reset: by the peer (`byPeer`), by a stream error we found, or refused by GOAWAY (code REFUSED_STREAM). */
  onReset(stream: H2Stream, code: number, byPeer: boolean): void;
  /** The stream reached `closed` (after onReset or the last END_STREAM). */
  onStreamClose?(stream: H2Stream): void;
  onGoaway?(lastStreamId: number, code: number, debug: Buffer): void;
  /** A connection error (ours: GOAWAY sent; or the peer's GOAWAY with an error). The connection is finished. */
  onError?(err: H2Error): void;
  onPingAck?(data: Buffer): void;
  /** Window opened on a stream that had pending data or whose sendData returned false. */
  onWritable?(stream: H2Stream): void;
}

export interface H2ConnectionOptions {
  role: 'client' | 'server';
  limits?: Partial<H2Limits>;
  /** SETTINGS_INITIAL_WINDOW_SIZE we announce (per-stream receive window). Default 1 MiB. */
  initialWindowSize?: number;
  /** Connection receive window we open at start. Default 16 MiB. */
  connectionWindowSize?: number;
  /** SETTINGS_MAX_FRAME_SIZE we announce. Default 16 KiB (the protocol's minimum). */
  maxFrameSize?: number;
  /** SETTINGS_HEADER_TABLE_SIZE we announce. Default 4096. */
  headerTableSize?: number;
  /** The caller returns receive window with consume(); otherwise it is returned on delivery. */
  manualFlowControl?: boolean;
  /** Pending outgoing octets per stream above which sendData returns false. Default 1 MiB. */
  sendHighWater?: number;
  /** Clock for the rate limits (tests). */
  now?: () => number;
}

/** Counters of one connection, for the agent's config dump and metrics once wired. */
export interface H2Stats {
  streamsOpened: number;
  /** Streams refused over SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM). */
  streamsRefused: number;
  resetsReceived: number;
  resetsSent: number;
  /** Limits tripped (GOAWAY ENHANCE_YOUR_CALM). */
  calm: number;
  goawaysReceived: number;
}

interface EndableSink extends ByteSink {
  end?(): void;
}

const EMPTY = Buffer.alloc(0);

export class H2Connection implements FrameSink, SettingsSink, HeldBytesConnection {
  readonly role: 'client' | 'server';
  readonly limits: H2Limits;
  readonly stats: H2Stats = { streamsOpened: 0, streamsRefused: 0, resetsReceived: 0, resetsSent: 0, calm: 0, goawaysReceived: 0 };
  readonly #handler: H2Handler;
  readonly #sink: EndableSink | undefined;
  readonly writer: FrameWriter;
  readonly #reader: FrameReader;
  readonly #decoder: HpackDecoder;
  readonly #encoder: HpackEncoder;
  readonly #f = new FrameFields();
  // Not Maps: see stream-table.ts (a long-lived Map's rehashed tables keep closed streams' requests alive past scavenges).
  readonly #streams = new StreamTable<H2Stream>();
  readonly #closed: ClosedStreams;
  readonly #resets: WindowCounter;
  readonly #control: WindowCounter;
  readonly #now: () => number;
  readonly #manual: boolean;
  readonly #highWater: number;
  /** While sendBorrowed drains: the lent bytes' backing store (DATA from it is copied by the writer). */
  #borrowedStore: ArrayBufferLike | null = null;

  // Our settings, and the peer's.
  /**
   * SETTINGS_INITIAL_WINDOW_SIZE, three ways (RFC 9113 §6.9.2): the one this connection was made
   * with; the one we last announced (what consume() returns credit against); and the one we
   * account streams' receive windows by, the largest the peer may still be using — the last it
   * acknowledged or any still unacknowledged — since until its ACK the peer may send under the old
   * value (#applyInitialWindow).
   */
  readonly #ownInitialWindow: number;
  #announcedInitialWindow: number;
  #localInitialWindow: number;
  /** The INITIAL_WINDOW_SIZE each of our unacknowledged SETTINGS carried, oldest first. */
  readonly #windowsInFlight: number[] = [];
  /** The INITIAL_WINDOW_SIZE the peer acknowledged last (our own from the start: see the constructor). */
  #ackedInitialWindow: number;
  /** The budget this connection's held bytes count against (held-bytes-budget.ts), if any. */
  #heldAccount: HeldBytesAccount | undefined = undefined;
  /** Bytes delivered to the handler and not consumed yet, all streams together. */
  #heldTotal = 0;
  readonly #localConnWindow: number;
  readonly #localMaxFrameSize: number;
  readonly #localTableSize: number;
  #peerInitialWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #peerMaxConcurrent = Number.MAX_SAFE_INTEGER;
  #peerMaxHeaderList = Number.MAX_SAFE_INTEGER;

  // Connection windows.
  #sendWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  #recvWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  #recvUnacked = 0;

  // Stream ids and counts.
  #nextStreamId: number;
  #lastPeerStream = 0;
  #activePeer = 0;
  #activeLocal = 0;

  // A header block in progress (HEADERS without END_HEADERS, then CONTINUATION).
  #hbStream = 0;
  #hbFlags = 0;
  #hbBuf: Buffer = EMPTY;
  #hbLen = 0;
  #hbFrames = 0;
  #hbSelfDep = false;

  // A DATA frame arriving in pieces (onDataHead / onDataPart): its stream (undefined: dropped) and END_STREAM.
  #pieceStream: H2Stream | undefined = undefined;
  #pieceEnd = false;

  #gotPeerSettings = false;
  /** start() ran: our first SETTINGS went (a window change after it needs a SETTINGS of its own). */
  #gotStarted = false;
  #settingsUnacked = 0;
  #settingsTimer: NodeJS.Timeout | undefined = undefined;
  readonly #onSettingsTimeout: () => void;
  #goawaySent = false;
  #goawayReceived = false;
  #peerLastStream = MAX_WINDOW;
  #dead = false;
  /** Streams with pending data, drained when the connection window opens. */
  readonly #blocked = new Set<H2Stream>();

  constructor(sink: ByteSink | undefined, handler: H2Handler, opts: H2ConnectionOptions) {
    this.role = opts.role;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#closed = new ClosedStreams(this.limits.closedStreamMemory);
    this.#handler = handler;
    this.#sink = sink;
    this.writer = new FrameWriter(sink);
    this.#ownInitialWindow = opts.initialWindowSize ?? 1 << 20;
    this.#announcedInitialWindow = this.#ownInitialWindow;
    this.#localInitialWindow = this.#ownInitialWindow;
    // As before windows could change: streams are accounted by our window from the start (a peer
    // that sends more than the default before it acknowledged ours was given that much).
    this.#ackedInitialWindow = this.#ownInitialWindow;
    this.#localConnWindow = opts.connectionWindowSize ?? 16 << 20;
    this.#localMaxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#localTableSize = opts.headerTableSize ?? DEFAULT_HEADER_TABLE_SIZE;
    this.#reader = new FrameReader(this, { maxFrameSize: this.#localMaxFrameSize, expectPreface: this.role === 'server' });
    this.#decoder = new HpackDecoder({ maxTableSize: DEFAULT_HEADER_TABLE_SIZE, maxHeaderListSize: this.limits.maxHeaderListSize });
    this.#encoder = new HpackEncoder(DEFAULT_HEADER_TABLE_SIZE);
    this.#resets = new WindowCounter(this.limits.maxResetsPerWindow, this.limits.resetWindowMs);
    this.#control = new WindowCounter(this.limits.maxControlFramesPerWindow, this.limits.controlWindowMs);
    this.#now = opts.now ?? Date.now;
    this.#manual = opts.manualFlowControl ?? false;
    this.#highWater = opts.sendHighWater ?? 1 << 20;
    this.#nextStreamId = this.role === 'client' ? 1 : 2;
    this.#onSettingsTimeout = () => this.#fail(connError(H2Code.SETTINGS_TIMEOUT, 'the peer did not acknowledge our SETTINGS in time'));
  }

  /** Sends the preface (client) and our SETTINGS, and opens the connection window. */
  start(): void {
    this.#gotStarted = true;
    const w = this.writer;
    if (this.role === 'client') {
      const at = w.reserve(CLIENT_PREFACE.length);
      CLIENT_PREFACE.copy(w.slab, at);
      w.commit(CLIENT_PREFACE.length);
    }
    writeSettings(w, [
      SettingId.ENABLE_PUSH, 0,
      SettingId.MAX_CONCURRENT_STREAMS, this.limits.maxConcurrentStreams,
      SettingId.INITIAL_WINDOW_SIZE, this.#announcedInitialWindow,
      SettingId.MAX_FRAME_SIZE, this.#localMaxFrameSize,
      SettingId.MAX_HEADER_LIST_SIZE, this.limits.maxHeaderListSize,
      SettingId.HEADER_TABLE_SIZE, this.#localTableSize,
    ]);
    this.#settingsSent(this.#announcedInitialWindow);
    if (this.#localConnWindow > DEFAULT_INITIAL_WINDOW_SIZE) {
      writeWindowUpdate(w, 0, this.#localConnWindow - DEFAULT_INITIAL_WINDOW_SIZE);
      this.#recvWindow = this.#localConnWindow;
    }
  }

  get closed(): boolean {
    return this.#dead;
  }

  get activeStreams(): number {
    return this.#streams.size;
  }

  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unbounded until its SETTINGS arrive). */
  get peerMaxConcurrentStreams(): number {
    return this.#peerMaxConcurrent;
  }

  /** The peer sent GOAWAY, or we did: no new streams on this connection. */
  get draining(): boolean {
    return this.#goawayReceived || this.#goawaySent;
  }

  /** The peer's SETTINGS_MAX_HEADER_LIST_SIZE (advisory, for callers that check before sending). */
  get peerMaxHeaderListSize(): number {
    return this.#peerMaxHeaderList;
  }

  /** During onData: the data is a view of a lent read, gone once onData returns (copy what is kept). */
  get dataLent(): boolean {
    return this.#reader.lentView;
  }

  stream(id: number): H2Stream | undefined {
    return this.#streams.get(id);
  }

  /**
   * Bytes from the socket. Never throws: errors become GOAWAY/RST_STREAM and handler calls.
   * `lent`: the chunk is overwritten once this returns (frame-reader.ts).
   */
  receive(chunk: Buffer, lent = false): void {
    if (this.#dead) return;
    try {
      this.#reader.push(chunk, lent);
    } catch (err) {
      if (err instanceof H2Error) this.#fail(err);
      else this.#fail(connError(H2Code.INTERNAL_ERROR, `internal error: ${(err as Error).message}`), err);
    }
  }

  /** The socket ended or failed: every stream is reset (not by the peer's protocol), nothing more is sent. */
  transportClosed(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#reader.stop();
    this.#clearSettingsTimer();
    for (const s of this.#streams.values()) {
      this.#closeStream(s, ClosedBy.RESET_RECEIVED);
      this.#handler.onReset(s, H2Code.CANCEL, true);
    }
    this.#leaveHeldAccount();
  }

  // ---- frames in ----

  onFrame(type: number, flags: number, sid: number, payload: Buffer): void {
    this.#frameOrder(type, flags);
    try {
      switch (type) {
        case FrameType.DATA: return this.#onData(flags, sid, payload);
        case FrameType.HEADERS: return this.#onHeadersFrame(flags, sid, payload);
        case FrameType.PRIORITY: return this.#onPriority(sid, payload);
        case FrameType.RST_STREAM: return this.#onRstStream(sid, payload);
        case FrameType.SETTINGS: return this.#onSettings(flags, sid, payload);
        case FrameType.PUSH_PROMISE: throw connError(H2Code.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
        case FrameType.PING: return this.#onPing(flags, sid, payload);
        case FrameType.GOAWAY: return this.#onGoaway(sid, payload);
        case FrameType.WINDOW_UPDATE: return this.#onWindowUpdate(sid, payload);
        case FrameType.CONTINUATION: return this.#onContinuation(flags, sid, payload);
        default: return; // unknown frame types are ignored (§4.1, §5.5)
      }
    } catch (err) {
      if (err instanceof H2Error && err.streamId !== 0) return this.#streamError(err);
      throw err;
    }
  }

  /** The order rules every frame meets first: nothing inside a header block, SETTINGS first. */
  #frameOrder(type: number, flags: number): void {
    if (this.#hbStream !== 0 && type !== FrameType.CONTINUATION) throw connError(H2Code.PROTOCOL_ERROR, 'a frame other than CONTINUATION inside a header block');
    if (!this.#gotPeerSettings) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) throw connError(H2Code.PROTOCOL_ERROR, 'the peer did not start with SETTINGS');
    }
  }

  #calm(what: string): never {
    this.stats.calm++;
    throw connError(H2Code.ENHANCE_YOUR_CALM, what);
  }

  #isPeerId(id: number): boolean {
    return (id & 1) === (this.role === 'server' ? 1 : 0);
  }

  /** A stream id never used yet (its state is idle). */
  #isIdle(id: number): boolean {
    return this.#isPeerId(id) ? id > this.#lastPeerStream : id >= this.#nextStreamId;
  }

  #onData(flags: number, sid: number, payload: Buffer): void {
    const f = this.#f;
    decodeData(f, flags, sid, payload);
    const s = this.#admitData(flags, sid, payload.length, f.end - f.start);
    if (s === undefined) return;
    this.#deliverData(s, f.end - f.start === payload.length ? payload : payload.subarray(f.start, f.end), (flags & Flag.END_STREAM) !== 0);
  }

  /**
   * FrameSink: an unpadded DATA frame of `length` octets that straddles reads (frame-reader.ts).
   * Taken in pieces only for a stream whose handler asked for them (`H2Stream.pieces`); any other
   * frame is assembled and checked whole by #onData, as before.
   */
  onDataHead(flags: number, sid: number, length: number): boolean {
    this.#pieceStream = undefined;
    if (this.#streams.get(sid)?.pieces !== true) return false;
    this.#frameOrder(FrameType.DATA, flags);
    this.#pieceEnd = (flags & Flag.END_STREAM) !== 0;
    try {
      this.#pieceStream = this.#admitData(flags, sid, length, length);
    } catch (err) {
      if (err instanceof H2Error && err.streamId !== 0) this.#streamError(err);
      else throw err;
    }
    return true;
  }

  /** FrameSink: the next piece of the DATA frame announced by onDataHead. */
  onDataPart(part: Buffer, last: boolean): void {
    const s = this.#pieceStream;
    if (s === undefined) return; // refused at its head: its window went back then
    if (last) this.#pieceStream = undefined;
    if (s.state === StreamState.CLOSED) return; // reset (by us) between two pieces: dropped (the connection's credit went back at its head)
    this.#deliverData(s, part, last && this.#pieceEnd);
  }

  /**
   * An incoming DATA frame of `len` octets (`n` of them content, the rest padding) against the
   * connection and stream windows, the stream's state and its content-length: takes the window and
   * returns the stream to deliver to, or undefined when the frame is dropped. Throws the stream or
   * connection error the frame is.
   *
   * The connection window goes back on receipt, whatever becomes of the frame; only the stream's
   * own window waits for the caller to consume the octets. A reader that stalls then holds at most
   * its stream window, and never the credit every other stream of the connection shares (with it
   * returned on consume, a few stalled streams could hold the whole connection window and stop
   * every other stream). What all stalled streams hold together is bounded by the stream count:
   * SETTINGS_MAX_CONCURRENT_STREAMS × the stream window (docs/design-notes.md). node:http2 does
   * the same (nghttp2 is told the connection's octets are consumed as each DATA chunk arrives).
   */
  #admitData(flags: number, sid: number, len: number, n: number): H2Stream | undefined {
    const es = (flags & Flag.END_STREAM) !== 0;
    if (len > this.#recvWindow) throw connError(H2Code.FLOW_CONTROL_ERROR, `DATA of ${len} octets over the connection window ${this.#recvWindow}`);
    this.#recvWindow -= len;
    const s = this.#streams.get(sid);
    if (s === undefined && this.#isIdle(sid)) throw connError(H2Code.PROTOCOL_ERROR, `DATA on idle stream ${sid}`);
    this.#returnConnCredit(len);
    if (s === undefined) {
      const r = onReceive(StreamState.CLOSED, StreamEvent.DATA, es, (this.#closed.get(sid) as ClosedByValue | undefined) ?? ClosedBy.RESET_RECEIVED);
      this.#apply(r, sid, 'DATA on a closed stream');
      return undefined;
    }
    const r = onReceive(s.state, StreamEvent.DATA, es);
    if (r < 0) {
      this.#apply(r, sid, 'DATA on a half-closed stream');
      return undefined;
    }
    // Stream errors below: the stream is reset (its octets already went back to the connection).
    if (len > s.recvWindow) {
      throw streamError(H2Code.FLOW_CONTROL_ERROR, sid, `DATA of ${len} octets over the stream window ${s.recvWindow}`);
    }
    if (!s.headersReceived && this.role === 'client') {
      throw streamError(H2Code.PROTOCOL_ERROR, sid, 'DATA before the response headers');
    }
    if (n === 0 && !es && this.#control.hit(this.#now())) this.#calm('too many empty DATA frames');
    s.received += n;
    if (s.contentLength >= 0 && (s.received > s.contentLength || (es && s.received !== s.contentLength))) {
      throw streamError(H2Code.PROTOCOL_ERROR, sid, `DATA total ${s.received} does not match content-length ${s.contentLength}`);
    }
    s.recvWindow -= len;
    // Padding is consumed at once; the content when the caller says so (or now).
    if (len > n) this.#returnStreamCredit(s, len - n);
    return s;
  }

  /** Content of an admitted DATA frame (all of it, or one piece) to the handler; `es` with the frame's last octet. */
  #deliverData(s: H2Stream, data: Buffer, es: boolean): void {
    if (es) {
      const r = onReceive(s.state, StreamEvent.DATA, true);
      if (r >= 0) s.state = r as StreamStateValue;
    }
    const n = data.length;
    s.held += n;
    if (n > 0) this.#addHeld(n);
    this.#handler.onData(s, this.#reader.lentView && !s.copiesLent ? Buffer.from(data) : data, es);
    if (!this.#manual && n > 0) this.consume(s, n);
    if (s.state === StreamState.CLOSED) this.#closeStream(s, ClosedBy.END_STREAM);
  }

  #onHeadersFrame(flags: number, sid: number, payload: Buffer): void {
    const f = this.#f;
    decodeHeaders(f, flags, sid, payload);
    const selfDep = f.hasPriority && f.dependency === sid;
    if (f.end - f.start === 0 && (flags & Flag.END_HEADERS) === 0 && this.#control.hit(this.#now())) this.#calm('too many empty HEADERS frames');
    if (flags & Flag.END_HEADERS) return this.#onHeaderBlock(flags, sid, payload.subarray(f.start, f.end), selfDep);
    this.#hbStream = sid;
    this.#hbFlags = flags;
    this.#hbFrames = 0;
    this.#hbLen = 0;
    this.#hbSelfDep = selfDep;
    this.#appendBlock(payload, f.start, f.end);
  }

  #onContinuation(flags: number, sid: number, payload: Buffer): void {
    decodeContinuation(this.#f, sid, payload);
    if (this.#hbStream === 0) throw connError(H2Code.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress');
    if (sid !== this.#hbStream) throw connError(H2Code.PROTOCOL_ERROR, `CONTINUATION on stream ${sid} inside a header block of stream ${this.#hbStream}`);
    if (++this.#hbFrames > this.limits.maxContinuationFrames) this.#calm(`header block of more than ${this.limits.maxContinuationFrames} CONTINUATION frames`);
    this.#appendBlock(payload, 0, payload.length);
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.#hbStream = 0;
    const block = this.#hbBuf.subarray(0, this.#hbLen);
    this.#onHeaderBlock(this.#hbFlags, sid, block, this.#hbSelfDep);
  }

  #appendBlock(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.#hbLen + n > this.limits.maxHeaderBlockSize) this.#calm(`header block over ${this.limits.maxHeaderBlockSize} octets`);
    if (this.#hbBuf.length < this.#hbLen + n) {
      const next = Buffer.allocUnsafe(Math.min(this.limits.maxHeaderBlockSize, Math.max(this.#hbLen + n, this.#hbBuf.length * 2, 4096)));
      this.#hbBuf.copy(next, 0, 0, this.#hbLen);
      this.#hbBuf = next;
    }
    src.copy(this.#hbBuf, this.#hbLen, start, end);
    this.#hbLen += n;
  }

  /** A complete header block: decode first (HPACK state must follow the peer whatever happens to the stream), then apply. */
  #onHeaderBlock(flags: number, sid: number, block: Buffer, selfDep: boolean): void {
    const es = (flags & Flag.END_STREAM) !== 0;
    const headers: string[] = [];
    const within = this.#decoder.decode(block, 0, block.length, headers);
    if (selfDep) throw streamError(H2Code.PROTOCOL_ERROR, sid, 'HEADERS: a stream cannot depend on itself');
    let s = this.#streams.get(sid);
    if (s === undefined) {
      if (!this.#isPeerId(sid)) {
        if (sid >= this.#nextStreamId) throw connError(H2Code.PROTOCOL_ERROR, `HEADERS on stream ${sid}, which we never opened`);
        return this.#apply(onReceive(StreamState.CLOSED, StreamEvent.HEADERS, es, (this.#closed.get(sid) as ClosedByValue | undefined) ?? ClosedBy.END_STREAM), sid, 'HEADERS on a closed stream');
      }
      if (this.role === 'client') throw connError(H2Code.PROTOCOL_ERROR, `server-initiated stream ${sid} (push is disabled)`);
      if (sid <= this.#lastPeerStream) {
        // A stream we remember closing follows the §5.1 closed rules; any other lower id is a
        // stream the peer may no longer open (§5.1.1: PROTOCOL_ERROR).
        const by = this.#closed.get(sid) as ClosedByValue | undefined;
        if (by === undefined) throw connError(H2Code.PROTOCOL_ERROR, `HEADERS opening stream ${sid}, not above the last stream ${this.#lastPeerStream}`);
        return this.#apply(onReceive(StreamState.CLOSED, StreamEvent.HEADERS, es, by), sid, 'HEADERS on a closed stream');
      }
      this.#lastPeerStream = sid;
      if (this.#goawaySent) return; // streams after our GOAWAY are ignored (§6.8)
      if (this.#activePeer >= this.limits.maxConcurrentStreams) {
        this.stats.streamsRefused++;
        this.#countReset('streams refused over SETTINGS_MAX_CONCURRENT_STREAMS');
        this.stats.resetsSent++;
        writeRstStream(this.writer, sid, H2Code.REFUSED_STREAM);
        this.#remember(sid, ClosedBy.RESET_SENT);
        return;
      }
      s = this.#newStream(sid);
      this.#activePeer++;
      s.state = onReceive(StreamState.IDLE, StreamEvent.HEADERS, es) as StreamStateValue;
      if (!within) return this.#tooLarge(s);
      const bad = requestHeadersError(headers);
      if (bad !== null) throw streamError(H2Code.PROTOCOL_ERROR, sid, `malformed request: ${bad}`);
      return this.#deliverHead(s, headers, es);
    }
    const r = onReceive(s.state, StreamEvent.HEADERS, es);
    if (r < 0) return this.#apply(r, sid, 'HEADERS on a half-closed stream');
    if (!within) return this.#tooLarge(s);
    if (this.role === 'client' && !s.headersReceived) {
      const bad = responseHeadersError(headers);
      if (bad !== null) throw streamError(H2Code.PROTOCOL_ERROR, sid, `malformed response: ${bad}`);
      const status = valueOf(headers, ':status') as string;
      if (status.charCodeAt(0) === 0x31) {
        if (es) throw streamError(H2Code.PROTOCOL_ERROR, sid, '1xx response with END_STREAM');
        this.#handler.onHeaders(s, headers, false, HeadersKind.INFORMATIONAL);
        return;
      }
      s.state = r as StreamStateValue;
      return this.#deliverHead(s, headers, es);
    }
    // Trailers: they end the stream (§8.1).
    if (!es) throw streamError(H2Code.PROTOCOL_ERROR, sid, 'trailers without END_STREAM');
    const bad = trailersError(headers);
    if (bad !== null) throw streamError(H2Code.PROTOCOL_ERROR, sid, `malformed trailers: ${bad}`);
    if (s.contentLength >= 0 && s.received !== s.contentLength) throw streamError(H2Code.PROTOCOL_ERROR, sid, `DATA total ${s.received} does not match content-length ${s.contentLength}`);
    s.state = r as StreamStateValue;
    this.#handler.onHeaders(s, headers, true, HeadersKind.TRAILERS);
    if (s.state === StreamState.CLOSED) this.#closeStream(s, ClosedBy.END_STREAM);
  }

  #deliverHead(s: H2Stream, headers: string[], es: boolean): void {
    s.headersReceived = true;
    const cl = contentLength(headers);
    if (cl === -2) throw streamError(H2Code.PROTOCOL_ERROR, s.id, 'malformed content-length');
    // A response to HEAD or a 304 carries content-length with no body; the caller knows the method, we do not check it on responses.
    s.contentLength = this.role === 'server' ? cl : -1;
    if (es && s.contentLength > 0) throw streamError(H2Code.PROTOCOL_ERROR, s.id, `END_STREAM with content-length ${s.contentLength}`);
    this.#handler.onHeaders(s, headers, es, HeadersKind.HEAD);
    if (s.state === StreamState.CLOSED) this.#closeStream(s, ClosedBy.END_STREAM);
  }

  /** A header list over SETTINGS_MAX_HEADER_LIST_SIZE: 431 from a server, CANCEL from a client (RFC 9113 §10.5.1). */
  #tooLarge(s: H2Stream): void {
    if (this.role === 'server' && (s.state === StreamState.OPEN || s.state === StreamState.HALF_CLOSED_REMOTE)) {
      this.#sendHeadersFrame(s, [':status', '431'], true);
      if ((s.state as StreamStateValue) !== StreamState.CLOSED) this.#resetStream(s, H2Code.NO_ERROR);
      else this.#closeStream(s, ClosedBy.END_STREAM);
      return;
    }
    throw streamError(H2Code.CANCEL, s.id, `header list over ${this.limits.maxHeaderListSize} octets`);
  }

  #onPriority(sid: number, payload: Buffer): void {
    if (this.#control.hit(this.#now())) this.#calm('too many PRIORITY frames');
    decodePriority(this.#f, sid, payload); // ignored otherwise: RFC 9113 deprecates the scheme
  }

  #onRstStream(sid: number, payload: Buffer): void {
    decodeRstStream(this.#f, sid, payload);
    if (this.#isIdle(sid)) throw connError(H2Code.PROTOCOL_ERROR, `RST_STREAM on idle stream ${sid}`);
    this.stats.resetsReceived++;
    this.#countReset('RST_STREAM flood (rapid reset)');
    const s = this.#streams.get(sid);
    if (s === undefined) return; // closed: ignored
    this.#closeStream(s, ClosedBy.RESET_RECEIVED);
    this.#handler.onReset(s, this.#f.errorCode, true);
  }

  #countReset(what: string): void {
    if (this.#resets.hit(this.#now())) this.#calm(`${what}: over ${this.limits.maxResetsPerWindow} per ${this.limits.resetWindowMs} ms`);
  }

  #onSettings(flags: number, sid: number, payload: Buffer): void {
    if ((flags & Flag.ACK) === 0 && this.#control.hit(this.#now())) this.#calm('SETTINGS flood');
    const ack = decodeSettings(flags, sid, payload, this);
    if (ack) {
      if (this.#settingsUnacked === 0) return;
      this.#settingsUnacked--;
      if (this.#settingsUnacked === 0) this.#clearSettingsTimer();
      this.#ackedInitialWindow = this.#windowsInFlight.shift() ?? this.#ackedInitialWindow;
      this.#applyInitialWindow();
      // Our settings are in force at the peer now.
      this.#decoder.setMaxTableSize(this.#localTableSize);
      return;
    }
    this.#gotPeerSettings = true;
    writeSettingsAck(this.writer);
    this.#drainAll();
  }

  /** SettingsSink: one parameter of the peer's SETTINGS, already range-checked. */
  onSetting(id: number, value: number): void {
    switch (id) {
      case SettingId.HEADER_TABLE_SIZE:
        this.#encoder.setMaxTableSize(value);
        return;
      case SettingId.ENABLE_PUSH:
        if (this.role === 'client' && value === 1) throw connError(H2Code.PROTOCOL_ERROR, 'a server sent SETTINGS_ENABLE_PUSH 1');
        return;
      case SettingId.MAX_CONCURRENT_STREAMS:
        this.#peerMaxConcurrent = value;
        return;
      case SettingId.INITIAL_WINDOW_SIZE: {
        // §6.9.2: every stream's send window moves by the difference; past 2^31-1 is a FLOW_CONTROL_ERROR.
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const s of this.#streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw connError(H2Code.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE makes stream ${s.id}'s window overflow`);
        }
        return;
      }
      case SettingId.MAX_FRAME_SIZE:
        this.#peerMaxFrameSize = value;
        return;
      case SettingId.MAX_HEADER_LIST_SIZE:
        this.#peerMaxHeaderList = value;
        return;
      default:
        return; // unknown settings are ignored (§6.5.2)
    }
  }

  #onPing(flags: number, sid: number, payload: Buffer): void {
    const ack = decodePing(flags, sid, payload);
    if (ack) {
      this.#handler.onPingAck?.(payload);
      return;
    }
    if (this.#control.hit(this.#now())) this.#calm('PING flood');
    writePing(this.writer, true, payload);
  }

  #onGoaway(sid: number, payload: Buffer): void {
    const f = this.#f;
    decodeGoaway(f, sid, payload);
    this.stats.goawaysReceived++;
    this.#goawayReceived = true;
    this.#peerLastStream = Math.min(this.#peerLastStream, f.streamRef);
    const debug = payload.subarray(f.start, f.end);
    // Our streams above the peer's last id were never processed: refused, safe to retry elsewhere.
    for (const s of this.#streams.values()) {
      if (!this.#isPeerId(s.id) && s.id > this.#peerLastStream) {
        this.#closeStream(s, ClosedBy.RESET_RECEIVED);
        this.#handler.onReset(s, H2Code.REFUSED_STREAM, true);
      }
    }
    this.#handler.onGoaway?.(f.streamRef, f.errorCode, debug);
  }

  #onWindowUpdate(sid: number, payload: Buffer): void {
    decodeWindowUpdate(this.#f, sid, payload);
    const inc = this.#f.increment;
    if (sid === 0) {
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) throw connError(H2Code.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      this.#drainAll();
      return;
    }
    const s = this.#streams.get(sid);
    if (s === undefined) {
      if (this.#isIdle(sid)) throw connError(H2Code.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${sid}`);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) throw streamError(H2Code.FLOW_CONTROL_ERROR, sid, 'stream window over 2^31-1');
    this.#drain(s);
  }

  /** A stream-state outcome that is not a new state: ignore, stream error or connection error. */
  #apply(r: number, sid: number, what: string): void {
    if (r === IGNORE || r >= 0) return;
    if (isStreamErr(r)) throw streamError(errCode(r), sid, `${what} (stream ${sid})`);
    if (isConnErr(r)) throw connError(errCode(r), `${what} (stream ${sid})`);
  }

  #streamError(err: H2Error): void {
    const s = this.#streams.get(err.streamId);
    if (s === undefined) {
      if (this.#closed.get(err.streamId) !== ClosedBy.RESET_SENT) {
        this.stats.resetsSent++;
        writeRstStream(this.writer, err.streamId, err.h2code);
        this.#remember(err.streamId, ClosedBy.RESET_SENT);
      }
      return;
    }
    this.#resetStream(s, err.h2code);
    this.#handler.onReset(s, err.h2code, false);
  }

  // ---- flow control, receive side ----

  /**
   * The caller consumed `n` octets of `s`'s data: its stream window goes back to the peer when half
   * a window has built up (the connection's went back on receipt, #admitData).
   */
  consume(s: H2Stream, n: number): void {
    const k = Math.min(n, s.held);
    if (k <= 0) return;
    s.held -= k;
    this.#addHeld(-k);
    this.#returnStreamCredit(s, k); // only while the peer may still send on it
  }

  #returnStreamCredit(s: H2Stream, n: number): void {
    if (s.state !== StreamState.OPEN && s.state !== StreamState.HALF_CLOSED_LOCAL) return;
    s.recvUnacked += n;
    if (s.recvUnacked >= this.#announcedInitialWindow >> 1) {
      writeWindowUpdate(this.writer, s.id, s.recvUnacked);
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
  }

  #returnConnCredit(n: number): void {
    if (this.#dead) return;
    this.#recvUnacked += n;
    if (this.#recvUnacked >= this.#localConnWindow >> 1) {
      writeWindowUpdate(this.writer, 0, this.#recvUnacked);
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
  }

  // ---- held bytes and the announced stream window ----

  /**
   * Counts this connection's held bytes (delivered, not yet consumed) against `account`, whose
   * budget may lower the stream window we announce (limitStreamWindow). Once per connection.
   */
  attachHeldBytes(account: HeldBytesAccount): void {
    if (this.#dead || this.#heldAccount !== undefined) return;
    this.#heldAccount = account;
    if (this.#heldTotal > 0) account.add(this.#heldTotal);
    account.attach(this);
  }

  /** Bytes delivered to the handler and not consumed yet, every stream together. */
  get heldBytes(): number {
    return this.#heldTotal;
  }

  /** The SETTINGS_INITIAL_WINDOW_SIZE the peer has been told last (and, once it ACKs, uses). */
  get announcedStreamWindow(): number {
    return this.#announcedInitialWindow;
  }

  #addHeld(n: number): void {
    this.#heldTotal += n;
    this.#heldAccount?.add(n);
  }

  #leaveHeldAccount(): void {
    const a = this.#heldAccount;
    if (a === undefined) return;
    this.#heldAccount = undefined;
    if (this.#heldTotal !== 0) a.add(-this.#heldTotal);
    this.#heldTotal = 0;
    a.detach(this);
  }

  /**
   * Announces `window` as our SETTINGS_INITIAL_WINDOW_SIZE (null: the one the connection was made
   * with), in a SETTINGS frame of its own. The peer moves every open stream's send window by the
   * difference (§6.9.2, windows may go negative) and opens new streams with it: lowered, a stream
   * whose reader stalled can take no more than the new window past what it holds, and one that
   * already holds more gets nothing until its reader consumes the difference. Our accounting of
   * each stream's receive window follows when the peer acknowledges a lower value (before that it
   * may still send under the old one, which is no FLOW_CONTROL_ERROR) and at once for a higher.
   * Before start() only the first SETTINGS changes.
   */
  limitStreamWindow(window: number | null): void {
    const v = window === null ? this.#ownInitialWindow : Math.min(window, this.#ownInitialWindow);
    if (this.#dead || v === this.#announcedInitialWindow) return;
    this.#announcedInitialWindow = v;
    if (!this.#gotStarted) {
      this.#ackedInitialWindow = v;
      this.#applyInitialWindow();
      return;
    }
    writeSettings(this.writer, [SettingId.INITIAL_WINDOW_SIZE, v]);
    this.#settingsSent(v);
  }

  /** One SETTINGS of ours went out carrying INITIAL_WINDOW_SIZE `v`: its ACK is awaited. */
  #settingsSent(v: number): void {
    this.#settingsUnacked++;
    this.#windowsInFlight.push(v);
    this.#armSettingsTimer();
    this.#applyInitialWindow();
  }

  /**
   * Streams' receive windows are accounted by the largest INITIAL_WINDOW_SIZE the peer may still
   * be using: the last it acknowledged, or one in flight. Moves every open stream by the change.
   */
  #applyInitialWindow(): void {
    let v = this.#ackedInitialWindow;
    for (const w of this.#windowsInFlight) if (w > v) v = w;
    const delta = v - this.#localInitialWindow;
    if (delta === 0) return;
    this.#localInitialWindow = v;
    for (const s of this.#streams.values()) s.recvWindow += delta;
  }

  // ---- frames out ----

  /** Opens a stream with a request (client). Returns null when the peer's concurrency limit or a GOAWAY forbids a new stream now. */
  request(headers: string[], endStream: boolean): H2Stream | null {
    if (this.role !== 'client') throw new Error('request() on a server connection');
    if (this.#dead || this.#goawayReceived || this.#goawaySent || this.#activeLocal >= this.#peerMaxConcurrent || this.#nextStreamId > MAX_WINDOW) return null;
    const s = this.#newStream(this.#nextStreamId);
    this.#nextStreamId += 2;
    this.#activeLocal++;
    this.#sendHeadersFrame(s, headers, endStream);
    return s;
  }

  /** Response head (server), or trailers (endStream true) on either side. Trailers wait behind pending data. */
  sendHeaders(s: H2Stream, headers: string[], endStream: boolean): void {
    if (this.#dead || s.state === StreamState.CLOSED) return;
    if (s.pendingBytes > 0 || s.pendingEnd) {
      if (!endStream || s.pendingEnd) throw new Error('headers after data queued on the stream, or after its END_STREAM');
      s.pendingTrailers = headers;
      s.pendingEnd = true;
      return;
    }
    this.#sendHeadersFrame(s, headers, endStream);
    if ((s.state as StreamStateValue) === StreamState.CLOSED) this.#closeStream(s, ClosedBy.END_STREAM);
  }

  #sendHeadersFrame(s: H2Stream, headers: string[], endStream: boolean): void {
    const next = onSend(s.state, StreamEvent.HEADERS, endStream);
    if (next < 0) throw new Error(`HEADERS may not be sent on stream ${s.id} in state ${s.state}`);
    const block = this.#encoder.encode(headers);
    writeHeaders(this.writer, s.id, block, endStream, this.#peerMaxFrameSize);
    s.state = next as StreamStateValue;
  }

  /**
   * DATA on `s`, split to the peer's frame size and windows; what does not fit waits on the
   * stream and goes when WINDOW_UPDATE arrives. Returns false when more than the high-water mark
   * waits (stop producing until onWritable).
   */
  sendData(s: H2Stream, data: Buffer, endStream: boolean): boolean {
    if (this.#dead || s.state === StreamState.CLOSED || s.state === StreamState.HALF_CLOSED_LOCAL || s.pendingEnd) return false;
    if (data.length > 0) {
      s.pending.push(data);
      s.pendingBytes += data.length;
    }
    if (endStream) s.pendingEnd = true;
    this.#drain(s);
    return s.pendingBytes < this.#highWater;
  }

  /**
   * sendData for bytes that are only lent for this call (a socket's reused read buffer, refilled
   * as soon as this returns): what the windows let go now is copied into the writer's pooled slab
   * (FrameWriter.appendBorrowed); what must wait is copied into a buffer of its own, and then the
   * answer is false (read no more until onWritable) even under the high-water mark. `data` must
   * not share its backing store with anything queued earlier (it is told apart by that store).
   */
  sendBorrowed(s: H2Stream, data: Buffer): boolean {
    if (this.#dead || s.state === StreamState.CLOSED || s.state === StreamState.HALF_CLOSED_LOCAL || s.pendingEnd) return false;
    if (data.length === 0) return s.pendingBytes < this.#highWater;
    s.pending.push(data);
    s.pendingBytes += data.length;
    const store = data.buffer;
    this.#borrowedStore = store;
    try {
      this.#drain(s);
    } finally {
      this.#borrowedStore = null;
    }
    // What is left of `data` is at the tail of the queue (the queue drains from the front). Only
    // the windows hold it back, so the reader stops until onWritable (the stream is blocked, so
    // its drain says so): the next bytes wait in the kernel's socket buffer, not in copies here.
    const p = s.pending;
    if (p.length > 0 && p[p.length - 1].buffer === store) {
      p[p.length - 1] = Buffer.from(p[p.length - 1]);
      return false;
    }
    return s.pendingBytes < this.#highWater;
  }

  #drain(s: H2Stream): void {
    if (s.pending.length === 0 && !s.pendingEnd) return;
    const wasBlocked = this.#blocked.has(s) || s.pendingBytes >= this.#highWater;
    const w = this.writer;
    while (s.pending.length > 0) {
      const room = Math.min(this.#sendWindow, s.sendWindow, this.#peerMaxFrameSize);
      if (room <= 0) {
        this.#blocked.add(s);
        return;
      }
      const head = s.pending[0];
      const n = Math.min(room, head.length);
      const chunk = n === head.length ? head : head.subarray(0, n);
      if (n === head.length) s.pending.shift();
      else s.pending[0] = head.subarray(n);
      s.pendingBytes -= n;
      this.#sendWindow -= n;
      s.sendWindow -= n;
      const last = s.pending.length === 0 && s.pendingEnd && s.pendingTrailers === null;
      writeData(w, s.id, chunk, last, 0, chunk.buffer === this.#borrowedStore);
      if (last) {
        s.pendingEnd = false;
        s.state = onSend(s.state, StreamEvent.DATA, true) as StreamStateValue;
        this.#blocked.delete(s);
        if (s.state === StreamState.CLOSED) this.#closeStream(s, ClosedBy.END_STREAM);
        return;
      }
    }
    this.#blocked.delete(s);
    if (s.pendingEnd) {
      s.pendingEnd = false;
      if (s.pendingTrailers !== null) {
        const t = s.pendingTrailers;
        s.pendingTrailers = null;
        this.#sendHeadersFrame(s, t, true);
      } else {
        writeData(w, s.id, EMPTY, true);
        s.state = onSend(s.state, StreamEvent.DATA, true) as StreamStateValue;
      }
      if (s.state === StreamState.CLOSED) this.#closeStream(s, ClosedBy.END_STREAM);
      return;
    }
    if (wasBlocked) this.#handler.onWritable?.(s);
  }

  #drainAll(): void {
    if (this.#blocked.size === 0) return;
    for (const s of [...this.#blocked]) {
      if (this.#sendWindow <= 0) return;
      this.#drain(s);
    }
  }

  /** Resets a stream (RST_STREAM); nothing more is sent or delivered on it. */
  reset(s: H2Stream, code: number = H2Code.CANCEL): void {
    if (this.#dead || s.state === StreamState.CLOSED) return;
    this.#resetStream(s, code);
  }

  #resetStream(s: H2Stream, code: number): void {
    this.stats.resetsSent++;
    writeRstStream(this.writer, s.id, code);
    this.#closeStream(s, ClosedBy.RESET_SENT);
  }

  /** PING with 8 octets of data (liveness); the ack comes to onPingAck. */
  ping(data: Buffer = Buffer.alloc(8)): void {
    if (this.#dead) return;
    writePing(this.writer, false, data);
  }

  /** Graceful shutdown: GOAWAY NO_ERROR with the last peer stream; streams in flight finish. */
  goaway(code: number = H2Code.NO_ERROR, debug?: string): void {
    if (this.#dead || this.#goawaySent) return;
    this.#goawaySent = true;
    writeGoaway(this.writer, this.#lastPeerStream, code, debug === undefined ? undefined : Buffer.from(debug));
    this.writer.flush();
  }

  /** Ends the connection now: GOAWAY (if not sent), flush, end the socket; streams still open are reset (onReset, not by the peer). */
  close(code: number = H2Code.NO_ERROR): void {
    if (this.#dead) return;
    this.goaway(code);
    this.#finish();
    for (const s of this.#streams.values()) {
      this.#closeStream(s, ClosedBy.RESET_SENT);
      this.#handler.onReset(s, H2Code.CANCEL, false);
    }
    this.#leaveHeldAccount();
  }

  // ---- internals ----

  #newStream(id: number): H2Stream {
    const s: H2Stream = {
      id,
      state: StreamState.IDLE,
      sendWindow: this.#peerInitialWindow,
      recvWindow: this.#localInitialWindow,
      recvUnacked: 0,
      held: 0,
      headersReceived: false,
      contentLength: -1,
      received: 0,
      pending: [],
      pendingBytes: 0,
      pendingEnd: false,
      pendingTrailers: null,
      pieces: false,
      copiesLent: false,
      ctx: undefined,
    };
    this.#streams.set(id, s);
    this.stats.streamsOpened++;
    return s;
  }

  #closeStream(s: H2Stream, by: ClosedByValue): void {
    if (!this.#streams.delete(s.id)) return;
    s.state = StreamState.CLOSED;
    if (s.held > 0) this.#addHeld(-s.held);
    s.held = 0; // delivered but never consumed (a reset under manual flow control): nothing owed, the connection's credit went back on receipt
    s.pending.length = 0;
    s.pendingBytes = 0;
    this.#blocked.delete(s);
    if (this.#isPeerId(s.id)) this.#activePeer--;
    else this.#activeLocal--;
    this.#closed.add(s.id, by);
    this.#handler.onStreamClose?.(s);
  }

  #remember(id: number, by: ClosedByValue): void {
    this.#closed.set(id, by);
  }

  #fail(err: H2Error, cause?: unknown): void {
    if (this.#dead) return;
    if (cause !== undefined) (err as { cause?: unknown }).cause = cause;
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      writeGoaway(this.writer, this.#lastPeerStream, err.h2code, Buffer.from(err.message.slice(0, 256)));
    }
    this.#finish();
    for (const s of this.#streams.values()) {
      this.#closeStream(s, ClosedBy.RESET_SENT);
      this.#handler.onReset(s, err.h2code, false);
    }
    this.#leaveHeldAccount();
    this.#handler.onError?.(err);
  }

  #finish(): void {
    this.#dead = true;
    this.#reader.stop();
    this.#clearSettingsTimer();
    this.writer.flush();
    this.#sink?.end?.();
  }

  #armSettingsTimer(): void {
    if (this.#settingsTimer !== undefined) return;
    this.#settingsTimer = setTimeout(this.#onSettingsTimeout, this.limits.settingsTimeoutMs);
    this.#settingsTimer.unref();
  }

  #clearSettingsTimer(): void {
    if (this.#settingsTimer === undefined) return;
    clearTimeout(this.#settingsTimer);
    this.#settingsTimer = undefined;
  }
}
