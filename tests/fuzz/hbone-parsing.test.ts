// HBONE parsing (agent/proxy/hbone/): the CONNECT :authority and the weft-target header (one
// parser, connect-target.ts), and the SNI that picks which workload certificate the server shows
// (sni.ts). What must hold: never a throw on untrusted input; whatever parses is a real
// host:port (an IPv4/IPv6 literal or a DNS name, port 1–65535) and formats back to itself; and
// an SNI never maps to an identity that is not hosted here, or to another one than it named.
import t from 'tap';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { formatConnectTarget, parseConnectTarget } from '../../agent/proxy/hbone/connect-target.ts';
import { identityForSni, sniForIdentity } from '../../agent/proxy/hbone/sni.ts';
import { assertProperty, corpus, runs } from './fuzz.ts';

const RUNS = runs(3000);
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

const port = fc.integer({ min: 1, max: 65535 });
const authority = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.tuple(fc.ipV4(), fc.integer({ min: -5, max: 70000 })).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.ipV6(), port).map(([h, p]) => `[${h}]:${p}`),
  fc.tuple(fc.ipV6(), port).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.domain(), fc.string({ maxLength: 6 })).map(([h, p]) => `${h}:${p}`),
  fc.tuple(fc.ipV4(), port, fc.constantFrom('/', '@', ' ', '\r\n', '#', '%00', '\u0000')).map(([h, p, x]) => `${h}${x}:${p}`),
);

t.test('corpus: CONNECT targets keep their recorded answers', async (t) => {
  for (const e of corpus<string>('connect-target')) {
    const got = parseConnectTarget(e.input);
    t.equal(got === null ? 'refused' : formatConnectTarget(got), e.note.split(': ')[0], e.note);
  }
});

t.test('parseConnectTarget: total, and what it accepts is a real host:port', async (t) => {
  assertProperty(fc.property(authority, (a) => {
    const r = parseConnectTarget(a);
    if (r === null) return true;
    return Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535 && (isIP(r.host) !== 0 || HOSTNAME.test(r.host)) && !/[\s/@#%\u0000]/.test(r.host);
  }), RUNS);
  t.pass(`${RUNS} authorities`);
});

t.test('valid targets round-trip through format and parse', async (t) => {
  const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
  assertProperty(fc.property(host, port, (h, p) => {
    const r = parseConnectTarget(formatConnectTarget({ host: h, port: p }));
    return r !== null && r.host === h && r.port === p;
  }), RUNS);
  t.pass(`${RUNS} targets`);
});

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const identity = fc.tuple(label, label, fc.array(label, { minLength: 1, maxLength: 3 })).map(([ns, td, sa]) => `spiffe://${td}.local/ns/${ns}/sa/${sa.join('.')}`);

t.test('SNI: the identity it names, and only when hosted here', async (t) => {
  assertProperty(fc.property(identity, fc.array(identity, { maxLength: 5 }), (id, others) => {
    const td = /^spiffe:\/\/([^/]+)\//.exec(id)?.[1] ?? '';
    const sni = sniForIdentity(id);
    const hosted = identityForSni(sni, td, [...others, id]);
    const absent = identityForSni(sni, td, others.filter((o) => o !== id));
    return hosted === id && absent === null && sni.length <= 253;
  }), RUNS);
  assertProperty(fc.property(fc.string({ maxLength: 80 }), fc.array(identity, { maxLength: 4 }), (sni, local) => {
    const r = identityForSni(sni, 'cluster.local', local);
    return r === null || local.includes(r);
  }), RUNS);
  t.pass(`${RUNS * 2} names`);
});
