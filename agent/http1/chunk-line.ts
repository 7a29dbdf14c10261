// One chunk-size line, without its CRLF (RFC 9112 §7.1, §7.1.1):
//   chunk-size [ chunk-ext ], chunk-size = 1*HEXDIG, chunk-ext = *( ";" name [ "=" value ] )
// with name a token and value a token or a quoted-string. Stricter than the grammar in one
// place: no BWS around ";" and "=", which llhttp (the current path's parser) refuses too. The size
// must be an exact integer (at most 2^53 - 1).
import { HEX, QDTEXT, TCHAR } from './chars.ts';

/** A refusal, told apart from a size (a number, not an object: one line per chunk is a hot path). */
export const BAD_SIZE = -1;
export const BAD_EXT = -2;

/** The chunk size of line b[s, e), or BAD_SIZE / BAD_EXT. */
export function parseChunkLine(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let size = 0;
  for (; i < e; i++) {
    const d = HEX[b[i]];
    if (d === 255) break;
    size = size * 16 + d;
    if (size > Number.MAX_SAFE_INTEGER) return BAD_SIZE;
  }
  if (i === s) return BAD_SIZE;
  if (i < e && b[i] !== 0x3b) return BAD_SIZE;
  while (i < e) {
    // ";" token
    i++;
    const nameStart = i;
    while (i < e && TCHAR[b[i]] === 1) i++;
    if (i === nameStart) return BAD_EXT;
    if (i < e && b[i] === 0x3d) {
      i++;
      if (i < e && b[i] === 0x22) {
        // quoted-string: qdtext / "\" (HTAB / SP / VCHAR / obs-text)
        i++;
        for (;;) {
          if (i >= e) return BAD_EXT;
          const c = b[i];
          if (c === 0x22) break;
          if (c === 0x5c) {
            i++;
            if (i >= e || !(b[i] === 0x09 || (b[i] >= 0x20 && b[i] !== 0x7f))) return BAD_EXT;
          } else if (QDTEXT[c] !== 1) {
            return BAD_EXT;
          }
          i++;
        }
        i++;
      } else {
        const valueStart = i;
        while (i < e && TCHAR[b[i]] === 1) i++;
        if (i === valueStart) return BAD_EXT;
      }
    }
    if (i < e && b[i] !== 0x3b) return BAD_EXT;
  }
  return size;
}
