// bench/gc-trace.ts parseGcTrace: both formats V8 prints, --trace-gc lines and --trace-gc-nvp
// name=value lines. Oracle: the figures written in the sample lines, added up by hand.
import t from 'tap';
import { parseGcTrace } from '../../bench/gc-trace.ts';

t.test('--trace-gc lines: counts, pauses, growth across scavenges', async (t) => {
  const log = [
    '[100:0x1a2b]      500 ms: Scavenge 10.0 (12.0) -> 9.0 (12.0) MB, pooled: 0.0 MB, 1.5 / 0.0 ms  (average mu = 1.000, current mu = 1.000) allocation failure;',
    '[100:0x1a2b]     1500 ms: Scavenge 12.0 (14.0) -> 10.5 (14.0) MB, pooled: 0.0 MB, 2.0 / 0.0 ms  (average mu = 1.000, current mu = 1.000) allocation failure;',
    '[100:0x1a2b]     2500 ms: Mark-Compact 13.0 (16.0) -> 8.0 (16.0) MB, pooled: 0.0 MB, 6.0 / 0.0 ms  (average mu = 0.990, current mu = 0.990) allocation failure;',
    '[100:0x1a2b]     3000 ms: Scavenge 10.0 (16.0) -> 8.5 (16.0) MB, pooled: 0.0 MB, 1.0 / 0.0 ms  (average mu = 0.990, current mu = 0.990) allocation failure;',
    'some other log line',
  ].join('\n');
  const [g] = parseGcTrace(log, 1000);
  t.equal(g.isolate, '100:0x1a2b');
  t.equal(g.scavenges, 2, 'the one at 500 ms is before fromMs');
  t.equal(g.markCompacts, 1);
  t.same(g.markCompactPausesMs, [6]);
  t.same(g.scavengePausesMs, [2, 1]);
  // 9.0 → 10.5 (+1.5), then after the mark-compact 8.0 → 8.5 (+0.5).
  t.equal(Math.round(g.promotedMB * 10) / 10, 2.0);
  t.equal(g.copiedMB, undefined, 'no nvp lines: nothing copied is known');
});

t.test('--trace-gc-nvp lines: sizes in bytes, promoted= summed over scavenges', async (t) => {
  const MB = 1024 * 1024;
  const nvp = (at: number, kind: string, pause: number, end: number, promoted: number): string =>
    `[200:0x3c4d:0]    ${at} ms: pause=${pause} mutator=100.0 gc=${kind} reduce_memory=0 start_object_size=${end + MB} end_object_size=${end} allocated=3000000 promoted=${promoted} new_space_survived=1000`;
  const log = [
    nvp(1200, 's', 0.5, 10 * MB, 100_000),
    nvp(1500, 's', 0.7, 11 * MB, 200_000),
    nvp(1800, 'mc', 4.0, 7 * MB, 0),
    nvp(2100, 's', 0.9, 7.5 * MB, 300_000),
  ].join('\n');
  const [g] = parseGcTrace(log, 1000);
  t.equal(g.isolate, '200:0x3c4d');
  t.equal(g.scavenges, 3);
  t.equal(g.markCompacts, 1);
  t.same(g.markCompactPausesMs, [4]);
  t.same(g.scavengePausesMs, [0.5, 0.7, 0.9]);
  t.equal(Math.round(g.promotedMB * 10) / 10, 1.5, '10 → 11 MB, then 7 → 7.5 MB');
  t.equal(Math.round((g.copiedMB ?? 0) * MB), 600_000, 'V8 promoted= of the three scavenges');
});
