// Unit tier: the eBPF redirector's pure half (map lines, parsers, interface roles).
import t from 'tap';
import {
  hexToIpv4, hexToU32, ipv4Hex, parseAddrs, parseLinks, parseMapDump, parseRouteDev, parseTcFilters, pinDirName, planMapLines, planRoles, statsFromDump, u32Hex,
} from '../../../agent/redirect/ebpf-plan.ts';

t.test('byte encodings round-trip', async (t) => {
  t.equal(ipv4Hex('10.244.1.11'), '0a f4 01 0b', 'addresses in network order');
  t.equal(hexToIpv4(['0x0a', '0xf4', '0x01', '0x0b']), '10.244.1.11');
  t.equal(u32Hex(15001), '99 3a 00 00', 'ports in host order (little endian here)');
  t.equal(hexToU32(u32Hex(5432).split(' ')), 5432);
});

t.test('map lines are the difference between current and desired', async (t) => {
  const config = { outboundPort: 15001, inboundPort: 15006, mark: 0x539 };
  const lines = planMapLines('/m', { meshed: ['10.0.0.1', '10.0.0.2'], excluded: [22], local: ['1.1.1.1'] }, { meshed: ['10.0.0.2', '10.0.0.3'], excluded: [22, 5432], local: ['1.1.1.1'], config });
  t.same(lines, [
    'map update pinned /m/weft_config key hex 00 00 00 00 value hex 99 3a 00 00 9e 3a 00 00 39 05 00 00 00 00 00 00',
    'map update pinned /m/weft_meshed key hex 0a 00 00 03 value hex 01 00 00 00',
    'map delete pinned /m/weft_meshed key hex 0a 00 00 01',
    'map update pinned /m/weft_excluded key hex 38 15 00 00 value hex 01 00 00 00',
  ]);
});

t.test('tc, ip and bpftool output is read back', async (t) => {
  const tc = '[{"protocol":"all","pref":1337,"kind":"bpf","chain":0},{"protocol":"all","pref":1337,"kind":"bpf","chain":0,"options":{"handle":"0x1","prog":{"id":101,"name":"weft_pod"}}},{"pref":5,"kind":"bpf","options":{"handle":"0x1","prog":{"id":7,"name":"cil_from"}}}]';
  t.same(parseTcFilters(tc), { ours: [{ pref: 1337, handle: '0x1', progId: 101, progName: 'weft_pod' }], others: 1 }, 'other tools\' filters are counted, not ours');
  t.same(parseTcFilters(''), { ours: [], others: 0 });
  t.same(parseLinks('[{"ifname":"lo","link_type":"loopback"},{"ifname":"eth0","link_type":"ether"},{"ifname":"p1","link_type":"ether"}]'), ['eth0', 'p1']);
  t.equal(parseRouteDev('[{"dst":"10.244.1.11","dev":"p1"}]'), 'p1');
  t.equal(parseRouteDev('[{"type":"local","dst":"172.31.0.11","dev":"lo"}]'), undefined, 'a local address has no pod veth');
  t.equal(parseRouteDev(''), undefined);
  t.same(parseAddrs('[{"addr_info":[{"family":"inet","local":"127.0.0.1"}]},{"addr_info":[{"family":"inet","local":"172.31.0.11"},{"family":"inet6","local":"fe80::1"}]}]'), ['127.0.0.1', '172.31.0.11']);
  const dump = parseMapDump('[{"key":["0x05","0x00","0x00","0x00"],"value":["0x03","0x00","0x00","0x00","0x00","0x00","0x00","0x00"],"formatted":{"key":5,"value":3}}]');
  t.same(statsFromDump(dump), { outbound: 3 });
});

t.test('roles and pin names', async (t) => {
  t.same([...planRoles(['eth0', 'p1', 'p2'], new Set(['p1']))], [['eth0', 'inbound'], ['p1', 'pod'], ['p2', 'inbound']]);
  t.equal(pinDirName('Node_A', '4026531840'), 'weft-node-a-4026531840');
  t.equal(pinDirName('', '1'), 'weft-node-1');
});
