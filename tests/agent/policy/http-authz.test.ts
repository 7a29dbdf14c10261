// The one request check (agent/policy/http-authz.ts) with a recording authorizer: a plain request
// is decided by authorizeRequest and never watched, an upgrade is admitted (watched) with its
// request, no policy allows, and a denial's answer — headers and raw HTTP/1.1 — carries the stable
// code and the deciding policy and nothing that could split the head.
import t from 'tap';
import { ErrorCodes } from '../../../common/errors.ts';
import type { Admission, InboundAuthorizer } from '../../../agent/policy/authorizer.ts';
import type { ConnectionContext, HttpRequestAttributes, PolicyDecision } from '../../../agent/policy/evaluate.ts';
import { authorizeHttp, deniedHeaders, deniedHttp1 } from '../../../agent/policy/http-authz.ts';

const ctx: ConnectionContext = { sourceIdentity: 'spiffe://td/ns/a/sa/b', sourceAddress: '10.0.0.5', destination: 'demo/s', destinationIdentity: 'spiffe://td/ns/demo/sa/s', port: 8080, transport: 'local' };
const req: HttpRequestAttributes = { method: 'GET', path: '/admin', headers: { upgrade: 'websocket' } };
const allow: PolicyDecision = { allowed: true, policy: 'weft:default', reason: '', audits: [] };
const deny: PolicyDecision = { allowed: false, policy: 'demo/no-admin', reason: 'DENY rule 0 matched', audits: [] };

function recorder(d: PolicyDecision): InboundAuthorizer & { calls: string[]; released: number } {
  const r = {
    calls: [] as string[],
    released: 0,
    authorizeRequest(c: ConnectionContext, q: HttpRequestAttributes): PolicyDecision {
      r.calls.push(`request ${c.sourceAddress} ${q.method} ${q.path}`);
      return d;
    },
    admit(c: ConnectionContext, _close: (d: PolicyDecision) => void, q?: HttpRequestAttributes): Admission {
      r.calls.push(`admit ${c.sourceAddress} ${q?.method} ${q?.path}`);
      return { decision: d, release: () => r.released++ };
    },
  };
  return r;
}

t.test('plain requests are decided, upgrades admitted with their request', async (t) => {
  const a = recorder(allow);
  const v = authorizeHttp(a, ctx, req);
  t.equal(v.denied, undefined);
  t.same(a.calls, ['request 10.0.0.5 GET /admin'], 'a plain request: authorizeRequest, with the source address');
  const u = authorizeHttp(a, ctx, req, () => undefined);
  t.equal(u.denied, undefined);
  t.same(a.calls.at(-1), 'admit 10.0.0.5 GET /admin', 'an upgrade: admit with its request');
  u.release();
  t.equal(a.released, 1, 'release reaches the admission');
  t.equal(authorizeHttp(undefined, ctx, req).denied, undefined, 'no policy: allowed');
  const d = recorder(deny);
  t.equal(authorizeHttp(d, ctx, req).denied, deny);
  t.equal(authorizeHttp(d, ctx, req, () => undefined).denied, deny);
});

t.test('a denial answers 403 with the code and the policy, the same on every path', async (t) => {
  t.same(deniedHeaders(deny), { 'weft-error': ErrorCodes.POLICY_DENIED, 'weft-denied-by': 'demo/no-admin', 'content-length': '0' });
  t.equal(deniedHttp1(deny), 'HTTP/1.1 403 Forbidden\r\nweft-error: WEFT_ERR_POLICY_DENIED\r\nweft-denied-by: demo/no-admin\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  t.equal(deniedHttp1(undefined), 'HTTP/1.1 403 Forbidden\r\nweft-error: WEFT_ERR_POLICY_DENIED\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', 'a peer that named no policy');
  const evil = deniedHttp1({ ...deny, policy: 'a/b\r\nx-injected: 1' });
  t.equal(evil.split('\r\n').filter((l) => l.startsWith('x-injected')).length, 0, 'no header can be injected through a policy key');
});
