// The cluster DNS stand-in's messages, asked by a real resolver (Node's c-ares, node:dns) over UDP
// on loopback: an A record for a known name, an empty answer (not NXDOMAIN) for AAAA of it, NXDOMAIN
// for an unknown name; and malformed queries are ignored, never answered.
import t from 'tap';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { dnsAnswer, dnsQuestion } from './cluster-dns.ts';

const NAMES: Record<string, string | null> = { 'web.demo.svc.cluster.local': '10.112.3.4', 'headless.demo.svc.cluster.local': null };

t.test('a real resolver gets A, NODATA and NXDOMAIN', async (t) => {
  const sock = createSocket('udp4');
  sock.on('message', (msg, r) => {
    const q = dnsQuestion(msg);
    if (q !== undefined) sock.send(dnsAnswer(msg, q, q.name in NAMES ? NAMES[q.name] : undefined), r.port, r.address);
  });
  await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
  t.teardown(() => sock.close());
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${sock.address().port}`]);
  t.same(await resolver.resolve4('web.demo.svc.cluster.local'), ['10.112.3.4']);
  t.same(await resolver.resolve4('WEB.demo.svc.cluster.local'), ['10.112.3.4'], 'case-insensitive');
  await t.rejects(resolver.resolve6('web.demo.svc.cluster.local'), { code: 'ENODATA' }, 'AAAA of a known name: no data');
  await t.rejects(resolver.resolve4('headless.demo.svc.cluster.local'), { code: 'ENODATA' }, 'a name without an address: no data');
  await t.rejects(resolver.resolve4('nope.demo.svc.cluster.local'), { code: 'ENOTFOUND' }, 'unknown: NXDOMAIN');
});

t.test('what is not a standard query is not answered', async (t) => {
  t.equal(dnsQuestion(Buffer.alloc(5)), undefined, 'too short');
  const response = Buffer.from('12348180000100000000000003776562000001 0001'.replace(/ /g, ''), 'hex');
  t.equal(dnsQuestion(response), undefined, 'a response (QR set)');
  const truncated = Buffer.from('123401000001000000000000037765', 'hex');
  t.equal(dnsQuestion(truncated), undefined, 'a name running past the end');
  const pointer = Buffer.from('1234010000010000000000000c0c00010001', 'hex');
  t.equal(dnsQuestion(pointer), undefined, 'a compression pointer in a question');
});
