// Chaining weft-cni into a CNI conflist, table-tested on the shapes real CNIs write.
import t from 'tap';
import { chainWeftCni, primaryConflist, unchainWeftCni } from '../../../agent/redirect/cni-conflist.ts';
import { ErrorCodes } from '../../../common/errors.ts';

const bridge = { cniVersion: '1.0.0', name: 'k8s', plugins: [{ type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local' } }, { type: 'portmap', capabilities: { portMappings: true } }] };
const chained = { ...bridge, plugins: [...bridge.plugins, { type: 'weft-cni' }] };
const pretty = (o: unknown): string => `${JSON.stringify(o, null, 2)}\n`;

const rows: Array<{ name: string; input: unknown; chain: unknown; unchain: unknown }> = [
  { name: 'a bridge conflist gets weft-cni last', input: bridge, chain: pretty(chained), unchain: undefined },
  { name: 'already chained last: nothing to write', input: chained, chain: undefined, unchain: pretty(bridge) },
  {
    name: 'chained in the middle (another plugin was appended after): moved last',
    input: { ...bridge, plugins: [bridge.plugins[0], { type: 'weft-cni' }, bridge.plugins[1]] },
    chain: pretty(chained),
    unchain: pretty(bridge),
  },
];
for (const r of rows) {
  t.test(r.name, async (t) => {
    t.equal(chainWeftCni(JSON.stringify(r.input), 'x.conflist'), r.chain);
    t.equal(unchainWeftCni(JSON.stringify(r.input), 'x.conflist'), r.unchain);
  });
}

t.test('a file that is not a conflist is refused with a clear error', async (t) => {
  t.throws(() => chainWeftCni('{"type":"bridge"}', '10-b.conf'), { code: ErrorCodes.CONFIG_INVALID, message: /no "plugins" list/ });
  t.throws(() => chainWeftCni('nope', 'x.conflist'), { code: ErrorCodes.CONFIG_INVALID, message: /not JSON/ });
});

t.test('the runtime picks the first .conflist by name', async (t) => {
  t.equal(primaryConflist(['99-loopback.conf', '20-b.conflist', '10-a.conflist', 'README']), '10-a.conflist');
  t.equal(primaryConflist(['10-a.conf']), undefined);
});
