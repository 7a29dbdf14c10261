// Unit tests, no sockets: SNI encoding, CONNECT target parsing, SPIFFE IDs from SANs.
import t from 'tap';
import { sniForIdentity, identityForSni } from '../../../../agent/proxy/hbone/sni.ts';
import { parseConnectTarget, formatConnectTarget } from '../../../../agent/proxy/hbone/connect-target.ts';
import { spiffeIdFromSan, uriSans } from '../../../../agent/proxy/hbone/peer-identity.ts';
import { ErrorCodes, WeftError } from '../../../../common/errors.ts';

const A = 'spiffe://cluster.local/ns/shop/sa/cart';
const DOTTED = 'spiffe://cluster.local/ns/shop/sa/cart.v2';

t.test('SNI round-trips to a local identity and nothing else', async (t) => {
  const local = [A, DOTTED];
  for (const id of local) {
    const sni = sniForIdentity(id);
    t.match(sni, /\.hbone\.weft$/);
    t.ok(sni.length <= 253);
    t.equal(identityForSni(sni, 'cluster.local', local), id);
  }
  t.equal(sniForIdentity(A).split('.')[0], 'cart', 'readable');
  t.equal(identityForSni(sniForIdentity(A), 'other.domain', local), null, 'other trust domain');
  t.equal(identityForSni(sniForIdentity(A), 'cluster.local', [DOTTED]), null, 'not local');
  t.equal(identityForSni('example.com', 'cluster.local', local), null);
  const long = `spiffe://cluster.local/ns/shop/sa/${'a'.repeat(70)}`;
  t.match(sniForIdentity(long), /^[0-9a-f]{32}\.id\.hbone\.weft$/, 'over-long labels fall back to a hash');
  t.equal(identityForSni(sniForIdentity(long), 'cluster.local', [A, long]), long);
  t.throws(() => sniForIdentity('spiffe://x/y'));
});

t.test('CONNECT targets', async (t) => {
  t.same(parseConnectTarget('10.0.0.7:8080'), { host: '10.0.0.7', port: 8080 });
  t.same(parseConnectTarget('cart.shop.svc:80'), { host: 'cart.shop.svc', port: 80 });
  t.same(parseConnectTarget('[fd00::7]:443'), { host: 'fd00::7', port: 443 });
  t.equal(formatConnectTarget({ host: 'fd00::7', port: 443 }), '[fd00::7]:443');
  for (const bad of [undefined, '', 'host', ':80', 'host:', 'host:0', 'host:65536', 'host:80x', 'a_b:80', 'fd00::7:443', '[nope]:80', 'host:+80']) {
    t.equal(parseConnectTarget(bad), null, String(bad));
  }
});

t.test('SPIFFE ID from subjectAltName', async (t) => {
  t.equal(spiffeIdFromSan(`URI:${A}`, 'cluster.local'), A);
  t.equal(spiffeIdFromSan(`DNS:cart.shop, URI:${A}`, 'cluster.local'), A);
  t.same(uriSans('URI:"a, URI:b"'), ['a, URI:b'], 'quoted entries cannot smuggle a second SAN');
  for (const bad of [undefined, '', 'DNS:x', `URI:${A}, URI:${A}`, 'URI:spiffe://evil/ns/shop/sa/cart', 'URI:https://x/', 'URI:"a, URI:b"']) {
    const r = spiffeIdFromSan(bad, 'cluster.local');
    t.ok(r instanceof WeftError && r.code === ErrorCodes.PEER_IDENTITY, String(bad));
  }
});
