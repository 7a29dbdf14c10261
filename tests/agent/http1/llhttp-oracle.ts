// The independent oracle for agent/http1/request-parser.ts: node's own parser (llhttp) behind a
// real http.createServer on 127.0.0.1, configured as the outbound L7 path configures its server
// (keep-alive, half-open, default strict parser, 16 KiB header limit). Each input gets its own
// connection; the server records every request it was handed (method, target, raw headers, body,
// trailers) and, if its parser refused something, the llhttp code. Nothing here shares code with
// the parser under test.
import http from 'node:http';
import net from 'node:net';

export interface OracleMessage {
  method: string;
  target: string;
  version: string;
  rawHeaders: string[];
  body: Buffer;
  trailers: string[];
  /** Handed over as an upgrade / CONNECT (node stops parsing there). */
  upgrade: boolean;
  /** The body ended ('end' came): node accepted the whole message. */
  complete: boolean;
}

export interface OracleResult {
  messages: OracleMessage[];
  /** llhttp's code when it refused the input (HPE_*), else null. */
  error: string | null;
}

interface Pending {
  result: OracleResult;
  done: () => void;
}

export class LlhttpOracle {
  readonly #server: http.Server;
  readonly #byPort = new Map<number, Pending>();
  #port = 0;

  private constructor() {
    this.#server = http.createServer({ keepAlive: true, requestTimeout: 0 });
    (this.#server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // An Expect other than 100-continue is answered 417 by node's server unless 'checkExpectation'
    // has a listener: a server policy, not the parser's, so such requests are recorded too.
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const p = this.#byPort.get(req.socket.remotePort ?? -1);
      const m: OracleMessage = { method: req.method ?? '', target: req.url ?? '', version: req.httpVersion, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), trailers: [], upgrade: false, complete: false };
      p?.result.messages.push(m);
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        m.body = Buffer.concat(parts);
        m.trailers = req.rawTrailers;
        m.complete = true;
        res.end('ok');
      });
    };
    this.#server.on('request', onRequest);
    this.#server.on('checkExpectation', onRequest);
    const upgrade = (req: http.IncomingMessage, socket: net.Socket): void => {
      const p = this.#byPort.get(socket.remotePort ?? -1);
      p?.result.messages.push({ method: req.method ?? '', target: req.url ?? '', version: req.httpVersion, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), trailers: [], upgrade: true, complete: true });
      socket.destroy();
    };
    this.#server.on('upgrade', upgrade);
    this.#server.on('connect', upgrade);
    this.#server.on('clientError', (err: Error & { code?: string }, socket: net.Socket) => {
      const p = this.#byPort.get(socket.remotePort ?? -1);
      if (p !== undefined && p.result.error === null) p.result.error = err.code ?? 'UNKNOWN';
      socket.destroy();
    });
  }

  static async start(): Promise<LlhttpOracle> {
    const o = new LlhttpOracle();
    await new Promise<void>((r) => o.#server.listen(0, '127.0.0.1', r));
    o.#port = (o.#server.address() as net.AddressInfo).port;
    return o;
  }

  /** Sends `bytes` on a fresh connection, half-closes, and returns what the server made of them. */
  parse(bytes: Buffer, timeoutMs = 2000): Promise<OracleResult> {
    return new Promise((resolve) => {
      const result: OracleResult = { messages: [], error: null };
      const c = net.connect(this.#port, '127.0.0.1');
      let port = -1;
      let timer: NodeJS.Timeout | undefined = undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.#byPort.delete(port);
        c.destroy();
        // Let a clientError that raced the close land first.
        setImmediate(() => resolve(result));
      };
      c.on('connect', () => {
        port = c.localPort ?? -1;
        this.#byPort.set(port, { result, done });
        c.end(bytes);
        timer = setTimeout(done, timeoutMs);
      });
      c.on('data', () => undefined);
      c.on('error', () => undefined);
      c.on('close', () => {
        // The server may still be reading what it got; give its events a turn.
        setTimeout(done, 5);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.#server.closeAllConnections();
      this.#server.close(() => r());
    });
  }
}
