// The main-thread end of the live tap: WebSocket consumers on the admin server's /tap, each with
// its own server-side filter. Workers forward events only while at least one consumer is
// connected (the shared flag). A consumer whose socket is not draining (more than maxBuffered
// bytes waiting) loses events — counted, and reported to it once it catches up — so one slow
// terminal can never hold up the proxy or grow the agent's memory.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../common/log.ts';
import { TAP_FLAG_CONSUMERS } from './tap-buffer.ts';
import { matchesTap, parseTapFilter, TapFilterError, type TapEvent, type TapFilter } from './tap-events.ts';

export interface TapHubOptions {
  flag: Int32Array;
  log: Logger;
  /** Bytes a consumer may have unsent before its events are dropped. */
  maxBufferedBytes: number;
}

interface Consumer {
  ws: WebSocket;
  filter: TapFilter;
  sent: number;
  dropped: number;
  /** Drops not yet reported to this consumer. */
  unreported: number;
}

export class TapHub {
  readonly #o: TapHubOptions;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  readonly #consumers = new Set<Consumer>();
  /** Events dropped for slow consumers, all time (weft_tap_dropped_events_total{stage="consumer"}). */
  dropped = 0;
  delivered = 0;

  constructor(o: TapHubOptions) {
    this.#o = o;
  }

  get consumers(): number {
    return this.#consumers.size;
  }

  /** The admin server's upgrade hook for /tap. */
  readonly upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void => {
    let filter: TapFilter;
    try {
      filter = parseTapFilter(url.searchParams);
    } catch (err) {
      const msg = err instanceof TapFilterError ? err.message : 'bad tap request';
      const body = JSON.stringify({ code: 'WEFT_ERR_TAP_FILTER', message: msg });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#add(ws, filter));
  };

  #add(ws: WebSocket, filter: TapFilter): void {
    const c: Consumer = { ws, filter, sent: 0, dropped: 0, unreported: 0 };
    this.#consumers.add(c);
    this.#updateFlag();
    this.#o.log.info('tap consumer connected', { filter, consumers: this.#consumers.size });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.#consumers.delete(c);
      this.#updateFlag();
      this.#o.log.info('tap consumer left', { sent: c.sent, dropped: c.dropped, consumers: this.#consumers.size });
    });
    ws.send(JSON.stringify({ type: 'tap-started', filter }));
  }

  #updateFlag(): void {
    Atomics.store(this.#o.flag, TAP_FLAG_CONSUMERS, this.#consumers.size);
  }

  /** A batch from a worker. Each event is serialized at most once, whatever the consumers. */
  publish(events: readonly TapEvent[]): void {
    for (const e of events) {
      let text: string | undefined;
      for (const c of this.#consumers) {
        if (!matchesTap(c.filter, e)) continue;
        if (c.ws.readyState !== c.ws.OPEN || c.ws.bufferedAmount > this.#o.maxBufferedBytes) {
          c.dropped++;
          c.unreported++;
          this.dropped++;
          continue;
        }
        if (c.unreported > 0) {
          c.ws.send(JSON.stringify({ type: 'dropped', events: c.unreported }));
          c.unreported = 0;
        }
        text ??= JSON.stringify(e);
        c.ws.send(text);
        c.sent++;
        this.delivered++;
      }
    }
  }

  describe(): { consumers: Array<{ filter: TapFilter; sent: number; dropped: number }>; dropped: number; delivered: number } {
    return { consumers: [...this.#consumers].map((c) => ({ filter: c.filter, sent: c.sent, dropped: c.dropped })), dropped: this.dropped, delivered: this.delivered };
  }

  close(): void {
    for (const c of this.#consumers) c.ws.terminate();
    this.#consumers.clear();
    this.#updateFlag();
    this.#wss.close();
  }
}
