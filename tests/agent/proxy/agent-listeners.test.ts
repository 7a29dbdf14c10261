// NodeListeners: the ports given (a disabled 0 left out) and the IPv4 addresses of every interface,
// re-read on refresh; a failing read keeps the last good set (never an empty one that would open
// the loop again).
import t from 'tap';
import type os from 'node:os';
import { NodeListeners, ipv4Addresses } from '../../../agent/proxy/agent-listeners.ts';

type Ifaces = ReturnType<typeof os.networkInterfaces>;
const iface = (address: string, family: 'IPv4' | 'IPv6'): os.NetworkInterfaceInfo =>
  ({ address, family, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null } as os.NetworkInterfaceInfo);

t.test('addresses of every interface, IPv4 only; ports without the disabled ones', async (t) => {
  let ifaces: Ifaces = { lo: [iface('127.0.0.1', 'IPv4'), iface('::1', 'IPv6')], eth0: [iface('172.31.0.11', 'IPv4')], veth1: [iface('10.244.1.1', 'IPv4')] };
  let fail = false;
  const read = (): Ifaces => {
    if (fail) throw new Error('getifaddrs failed');
    return ifaces;
  };
  t.same([...ipv4Addresses(read)].sort(), ['10.244.1.1', '127.0.0.1', '172.31.0.11']);
  const l = new NodeListeners([15001, 15006, 15008, 0], { read, refreshMs: 0 });
  t.same([...l.ports].sort(), [15001, 15006, 15008]);
  t.ok(l.addresses.has('172.31.0.11'));
  ifaces = { ...ifaces, veth2: [iface('10.244.1.2', 'IPv4')] };
  t.notOk(l.addresses.has('10.244.1.2'), 'read once until refreshed');
  l.refresh();
  t.ok(l.addresses.has('10.244.1.2'), 'a new address is picked up on refresh');
  fail = true;
  l.refresh();
  t.ok(l.addresses.has('172.31.0.11'), 'a failed read keeps the last good set');
  l.close();
});
