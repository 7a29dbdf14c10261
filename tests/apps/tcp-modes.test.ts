import t from 'tap';
import {
  fillPattern, formatAddress, modeLine, parseModeLine, parseSinkReply, patternBytes, patternChunks, patternSha256, sha256Hex,
} from './tcp-modes.ts';

t.test('the pattern is the same however it is chunked, and differs by seed', async (t) => {
  const whole = patternBytes(7, 0, 10_001);
  const pieces: Buffer[] = [];
  for (const [off, len] of [[0, 3], [3, 1], [4, 9], [13, 4000], [4013, 5988]] as const) pieces.push(patternBytes(7, off, len));
  t.same(Buffer.concat(pieces), whole, 'unaligned chunks concatenate to the whole');
  t.equal(sha256Hex(Buffer.concat([...patternChunks(7, 10_001, 333)])), sha256Hex(whole), 'patternChunks matches');
  t.equal(patternSha256(7, 10_001), sha256Hex(whole), 'patternSha256 matches');
  t.not(sha256Hex(patternBytes(8, 0, 10_001)), sha256Hex(whole), 'another seed, other bytes');
  t.same(patternBytes(7, 0, 16), patternBytes(7, 0, 16), 'deterministic');
  t.not(patternBytes(0, 0, 8).toString('hex'), '0000000000000000', 'seed 0 does not start with zeros');
  const filled = fillPattern(new Uint8Array(5), 7, 5);
  t.same(Buffer.from(filled), whole.subarray(5, 10), 'fillPattern at an offset');
});

t.test('mode lines parse and round-trip', async (t) => {
  for (const m of [{ mode: 'ECHO' }, { mode: 'SINK' }, { mode: 'RESET' }, { mode: 'HOLD' }, { mode: 'WHO' },
    { mode: 'SOURCE', bytes: 12345, seed: 4294967295 }] as const) {
    t.same(parseModeLine(modeLine(m).trimEnd()), m, modeLine(m).trim());
  }
  t.same(parseModeLine('echo\r'), { mode: 'ECHO' }, 'case and CR tolerated');
  t.match(parseModeLine('FOO'), { error: /unknown mode/ });
  t.match(parseModeLine('SOURCE 10'), { error: /usage/ });
  t.match(parseModeLine('SOURCE 10 -1'), { error: /seed/ });
  t.match(parseModeLine('ECHO extra'), { error: /no arguments/ });
});

t.test('sink replies and addresses', async (t) => {
  const sha = sha256Hex('x');
  t.same(parseSinkReply(`1 ${sha}\n`), { bytes: 1, sha256: sha });
  t.equal(parseSinkReply('ERR nope\n'), undefined);
  t.equal(formatAddress('::ffff:10.0.0.1', 80), '10.0.0.1:80');
  t.equal(formatAddress('fd00::1', 80), '[fd00::1]:80');
});
