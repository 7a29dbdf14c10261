// A closed HTTP/2 stream lets go of the request's objects.
//
// node:http2 keeps each stream's JS object reachable from its native handle until a full
// (mark-compact) collection, and V8's young-generation collections treat that handle as a root.
// Whatever a closed stream still points to — our listeners, and through them the request's
// exchange, the app's request and response, the upstream attempt — therefore survives every
// scavenge and is promoted to the old generation, where only a mark-compact frees it. Measured on
// the L7 path at 1000 req/s (bench/README.md, "Where the L7 tail came from"): 15 KB promoted per
// request before, half that with the listeners dropped, less again without node's copies of the
// sent headers and the request's async resource, which it no longer reads once the stream closed.
import type { Http2Stream } from 'node:http2';
import { H2DuplexStream } from '../h2/duplex-stream.ts';

const ignore = (): void => undefined;

/** Node's own per-stream fields (symbols, by description) that hold request-sized objects. */
const HEAVY = new Set(['sent-headers', 'sent-trailers', 'requestAsyncResource']);
/** Those symbols per stream class (client and server streams differ), found on first use. */
const heavyByClass = new Map<unknown, symbol[]>();

function heavySymbols(stream: Http2Stream): symbol[] {
  let syms = heavyByClass.get(stream.constructor);
  // A stream that closed before it sent headers has no such field yet: look again next time.
  if (syms === undefined || !syms.some((k) => k.description === 'sent-headers')) {
    syms = Object.getOwnPropertySymbols(stream).filter((s) => s.description !== undefined && HEAVY.has(s.description));
    heavyByClass.set(stream.constructor, syms);
  }
  return syms;
}

/** Call from the stream's 'close' (its last event): listeners still due for it run regardless. */
export function releaseClosedStream(stream: Http2Stream): void {
  stream.removeAllListeners();
  // Nothing is emitted after 'close'; should node ever emit an error late, it must not throw.
  stream.on('error', ignore);
  // The codec's streams (WEFT_L7_H2_ENGINE=weft) keep no such copies and no native handle.
  if (stream instanceof H2DuplexStream) return;
  const s = stream as unknown as Record<symbol, unknown>;
  for (const k of heavySymbols(stream)) if (s[k] !== undefined) s[k] = undefined;
}
