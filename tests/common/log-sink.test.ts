// The guarded log sink: a write that fails (ENOSPC from /dev/full, a pipe that errors) is counted,
// never thrown, and the first write that works again reports how many lines were lost.
import t from 'tap';
import { closeSync, openSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { GuardedSink } from '../../common/log-sink.ts';

/** The bits of a process stream the sink uses, over a raw descriptor. */
function fdStream(fd: number): NodeJS.WritableStream & { fd: number } {
  return Object.assign(new PassThrough(), { fd });
}

t.test('a full device: every line counted as lost, nothing thrown', async (t) => {
  const fd = openSync('/dev/full', 'w');
  t.teardown(() => closeSync(fd));
  const sink = new GuardedSink('stderr', fdStream(fd));
  for (let i = 0; i < 5; i++) sink.write(`{"n":${i}}\n`);
  t.same(sink.status(), { stream: 'stderr', failures: 5, pending: 5, lastError: 'ENOSPC' });
});

t.test('space again: the first line through says how many were lost, on a line of its own', async (t) => {
  const fd = openSync('/dev/null', 'w');
  t.teardown(() => closeSync(fd));
  // A disk with `room` bytes left: writes past it are cut short, then fail with ENOSPC.
  let room = 14;
  const out: Buffer[] = [];
  const writeSync = (_fd: number, buf: Uint8Array, off: number, len: number): number => {
    if (room === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const n = Math.min(len, room);
    room -= n;
    out.push(Buffer.from(buf.subarray(off, off + n)));
    return n;
  };
  const sink = new GuardedSink('stdout', fdStream(fd), { writeSync });
  sink.write('{"line":1}\n');
  sink.write('{"line":2}\n');
  sink.write('{"line":3}\n');
  t.match(sink.status(), { failures: 2, pending: 2, lastError: 'ENOSPC' }, 'the cut line and the next are lost');
  room = 1 << 20;
  sink.write('{"line":4}\n');
  const lines = Buffer.concat(out).toString('utf8').split('\n');
  t.equal(lines[0], '{"line":1}', 'the line that fitted');
  t.equal(lines[1], '{"l', 'the fragment ENOSPC cut');
  const notice = JSON.parse(lines[2]) as Record<string, unknown>;
  t.match(notice, { level: 'warn', code: 'WEFT_ERR_LOG_WRITE', lost: 2, failuresTotal: 2, msg: '2 log line(s) to stdout were lost: ENOSPC — is the log disk full?' }, 'the notice starts on a fresh line');
  t.equal(lines[3], '{"line":4}', 'then the line itself');
  t.match(sink.status(), { failures: 2, pending: 0 });
});

t.test('a stream (pipe) that errors: counted through its callback and error event, no crash', async (t) => {
  const broken = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('broken pipe'), { code: 'EPIPE' })) });
  const sink = new GuardedSink('stdout', broken);
  sink.write('{"a":1}\n');
  await new Promise((r) => setImmediate(r));
  sink.write('{"a":2}\n');
  await new Promise((r) => setImmediate(r));
  t.ok(sink.status().failures >= 2, `failures counted (${sink.status().failures})`);
  t.match(sink.status().lastError, /^(EPIPE|ERR_STREAM_DESTROYED)$/, 'with the code (a broken pipe stays broken: its reader is gone)');
});
