// Feeds bytes to a RequestParser in given pieces the way a connection would (keeping what a
// completed message left over, calling next()), and records what the handler heard. Shared by the
// table, split-invariance and fuzz tests.
import { RequestParser, type ParserLimits, type RequestHead } from '../../../agent/http1/request-parser.ts';
import type { H1ParseError } from '../../../agent/http1/parse-error.ts';

export interface Parsed {
  head: RequestHead;
  body: Buffer;
  trailers: string[] | null;
  complete: boolean;
}

export interface Outcome {
  messages: Parsed[];
  error: H1ParseError | null;
  /** After an upgrade / CONNECT head: every byte that followed it, untouched. */
  rest: Buffer | null;
}

class Recorder {
  readonly messages: Parsed[] = [];
  bodies: Buffer[] = [];
  error: H1ParseError | null = null;
  errors = 0;

  onRequestHead(head: RequestHead): void {
    this.messages.push({ head, body: Buffer.alloc(0), trailers: null, complete: false });
    this.bodies = [];
  }

  onBody(chunk: Buffer): void {
    // Copied: the test checks the parser never hands out bytes it was not given, not aliasing.
    this.bodies.push(Buffer.from(chunk));
  }

  onMessageComplete(trailers: string[] | null): void {
    const m = this.messages[this.messages.length - 1];
    m.body = Buffer.concat(this.bodies);
    m.trailers = trailers;
    m.complete = true;
  }

  onError(err: H1ParseError): void {
    this.error = err;
    this.errors++;
  }
}

/** Splits `bytes` at the given offsets (sorted, in range). */
export function pieces(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    if (c <= from || c >= bytes.length) continue;
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Every byte its own read. */
export function bytewise(bytes: Buffer): Buffer[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/** Runs `reads` through one parser, as a connection would, then EOF. */
export function drive(reads: readonly Buffer[], limits?: Partial<ParserLimits>, opts: { continueUpgrades?: boolean } = {}): Outcome {
  const rec = new Recorder();
  const p = new RequestParser(rec, limits);
  let rest: Buffer[] | null = null;
  for (const read of reads) {
    if (rest !== null) {
      rest.push(read);
      continue;
    }
    let buf = read;
    for (;;) {
      const n = p.execute(buf);
      if (n < 0) return { messages: rec.messages, error: rec.error, rest: null };
      buf = buf.subarray(n);
      if (p.upgraded) {
        if (opts.continueUpgrades !== true || rec.messages[rec.messages.length - 1].head.connect) {
          rest = [buf];
          break;
        }
        p.continueAsRequest();
        if (!p.paused) {
          if (buf.length > 0) continue;
          break;
        }
      }
      if (p.paused) {
        p.next();
        if (buf.length > 0) continue;
        break;
      }
      // Neither paused nor upgraded: execute must have used every byte.
      if (buf.length > 0) throw new Error(`execute left ${buf.length} bytes without pausing`);
      break;
    }
  }
  if (rest !== null) return { messages: rec.messages, error: rec.error, rest: Buffer.concat(rest) };
  p.finish();
  if (rec.errors > 1) throw new Error('onError called more than once');
  return { messages: rec.messages, error: rec.error, rest: null };
}

/** A comparable summary: what a caller would act on. */
export function summary(o: Outcome): unknown {
  return {
    messages: o.messages.map((m) => ({
      method: m.head.method, target: m.head.target, form: m.head.targetForm, minor: m.head.minor, headers: m.head.rawHeaders,
      host: m.head.host, bodyLength: m.head.bodyLength, keepAlive: m.head.keepAlive, expectContinue: m.head.expectContinue,
      upgrade: m.head.upgrade, connect: m.head.connect, raw: m.head.raw.toString('latin1'),
      body: m.body.toString('latin1'), trailers: m.trailers, complete: m.complete,
    })),
    error: o.error === null ? null : { rule: o.error.rule, status: o.error.status, code: o.error.code },
    rest: o.rest?.toString('latin1') ?? null,
  };
}
