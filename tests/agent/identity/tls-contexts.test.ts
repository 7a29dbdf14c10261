import t from 'tap';
import { makeTestCa } from '../../common/test-pki.ts';
import { TlsContextCache, buildSecureContext } from '../../../agent/identity/tls-contexts.ts';
import { ErrorCodes, isWeftError } from '../../../common/errors.ts';
import { MapProvider, workloadCert } from '../proxy/hbone/fixture.ts';

const ID = 'spiffe://cluster.local/ns/a/sa/b';

t.test('the same certificate yields the same context; a rotated one a new context', async (t) => {
  const ca = await makeTestCa();
  const provider = new MapProvider();
  provider.certs.set(ID, await workloadCert(ca, ID));
  const cache = new TlsContextCache({ certificates: provider });
  const first = await cache.get(ID);
  t.equal(await cache.get(ID), first, 'cached');
  // A copy with equal fields is the same certificate (providers may rebuild the object).
  provider.certs.set(ID, { ...provider.certs.get(ID)!, certChainPem: [...provider.certs.get(ID)!.certChainPem] });
  t.equal(await cache.get(ID), first, 'equal content is not a rotation');
  provider.certs.set(ID, await workloadCert(ca, ID));
  const rotated = await cache.get(ID);
  t.not(rotated.context, first.context, 'rebuilt after rotation');
  t.equal(cache.size, 1);
});

t.test('new trust anchors rebuild the context', async (t) => {
  const ca = await makeTestCa();
  const other = await makeTestCa('other');
  const provider = new MapProvider();
  provider.certs.set(ID, await workloadCert(ca, ID));
  let anchors = [ca.certPem];
  const cache = new TlsContextCache({ certificates: provider, trustAnchors: () => anchors });
  const first = await cache.get(ID);
  anchors = [ca.certPem, other.certPem];
  t.not((await cache.get(ID)).context, first.context);
});

t.test('a missing certificate is WEFT_ERR_NO_IDENTITY', async (t) => {
  const cache = new TlsContextCache({ certificates: new MapProvider() });
  const err = await cache.get(ID).then(() => null, (e: unknown) => e);
  t.ok(isWeftError(err, ErrorCodes.NO_IDENTITY));
});

t.test('a certificate without chain or anchors is refused', async (t) => {
  const ca = await makeTestCa();
  const cert = await workloadCert(ca, ID);
  t.throws(() => buildSecureContext({ ...cert, certChainPem: [] }, [ca.certPem]), { code: ErrorCodes.NO_IDENTITY });
  t.throws(() => buildSecureContext(cert, []), { code: ErrorCodes.NO_IDENTITY });
});
