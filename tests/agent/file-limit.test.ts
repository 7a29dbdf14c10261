// Unit: reading the open-file limit the agent reports at start.
import t from 'tap';
import { parseFileLimit, reportFileLimit } from '../../agent/file-limit.ts';
import { memoryLogger } from '../../common/log.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

t.test('parses the Max open files row', async (t) => {
  t.same(parseFileLimit(LIMITS), { soft: 20000, hard: 20000 });
  t.same(parseFileLimit(LIMITS.replace('20000                20000', '1024                 unlimited')), { soft: 1024, hard: Infinity });
  t.equal(parseFileLimit('garbage'), undefined);
});

t.test('reports this process\'s limit, with a warning below the recommendation', async (t) => {
  const log = memoryLogger();
  const limit = await reportFileLimit(log);
  t.ok(limit !== undefined && limit.soft > 0, 'read from /proc/self/limits');
  t.equal(log.lines.length, 1, 'one line');
  t.equal(log.lines[0].level, (limit?.soft ?? 0) < 65_536 ? 'warn' : 'info');
});
