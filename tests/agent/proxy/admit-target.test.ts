// The outbound target stage as a table: each row a request head, the engine it came on, and what
// the stage must leave (the rewritten target and authority) or refuse (code and counted reason).
// The expected values are written out from RFC 9112 §3.2 (target forms) and the path modes'
// rules (common/path-normalize.ts's header), not computed.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { admitTarget } from '../../../agent/proxy/admit-target.ts';
import type { AppProtocol } from '../../../agent/http/upstream.ts';
import type { PathNormalization } from '../../../common/path-normalize.ts';

interface Row {
  name: string;
  head: { url?: string; method?: string; headers: IncomingHttpHeaders };
  proto?: AppProtocol;
  mode?: PathNormalization;
  /** Admitted: the head afterwards. */
  after?: { url: string | undefined; headers: IncomingHttpHeaders };
  /** Refused. */
  refused?: { code: string; reason: string };
}

const rows: Row[] = [
  { name: 'clean origin-form: untouched', head: { url: '/a/b?x=1', headers: { host: 'web' } }, after: { url: '/a/b?x=1', headers: { host: 'web' } } },
  { name: 'no url at all reads as /', head: { headers: {} }, after: { url: undefined, headers: {} } },
  { name: 'merged slashes and dot segments (default mode)', head: { url: '//a/./b/../c?q=//x', headers: {} }, after: { url: '/a/c?q=//x', headers: {} } },
  { name: '%61 decoded (base and up)', head: { url: '/%61dmin', headers: {} }, mode: 'base', after: { url: '/admin', headers: {} } },
  { name: 'mode none: as received', head: { url: '//a/../b', headers: {} }, mode: 'none', after: { url: '//a/../b', headers: {} } },
  {
    name: 'absolute-form (HTTP/1.1): the path, and Host from the target',
    head: { url: 'http://api.example:8080/v1//x', headers: { host: 'ignored' } },
    after: { url: '/v1/x', headers: { host: 'api.example:8080' } },
  },
  {
    name: 'absolute-form on HTTP/2 sets :authority, not Host',
    head: { url: 'http://api.example/v1', headers: { ':authority': 'old' } },
    proto: 'h2',
    after: { url: '/v1', headers: { ':authority': 'api.example' } },
  },
  { name: 'CONNECT: an authority, left alone', head: { url: 'db.internal:5432', method: 'CONNECT', headers: {} }, after: { url: 'db.internal:5432', headers: {} } },
  { name: 'OPTIONS *: left alone', head: { url: '*', method: 'OPTIONS', headers: {} }, after: { url: '*', headers: {} } },
  { name: 'an h2 :path with a space is refused', head: { url: '/a b', headers: {} }, proto: 'h2', refused: { code: 'WEFT_ERR_HTTP_MALFORMED', reason: 'http_target' } },
  { name: 'a target that is no form at all', head: { url: 'not-a-target', headers: {} }, refused: { code: 'WEFT_ERR_HTTP_MALFORMED', reason: 'http_target' } },
  { name: 'an encoded slash below decode-and-merge-slashes', head: { url: '/a%2Fb', headers: {} }, refused: { code: 'WEFT_ERR_HTTP_PATH', reason: 'http_path_encoded_slash' } },
  { name: 'an encoded slash in decode-and-merge-slashes: a slash', head: { url: '/a%2Fb', headers: {} }, mode: 'decode-and-merge-slashes', after: { url: '/a/b', headers: {} } },
  { name: 'an encoded NUL', head: { url: '/a%00b', headers: {} }, refused: { code: 'WEFT_ERR_HTTP_PATH', reason: 'http_path_nul' } },
  { name: 'a dot segment with parameters', head: { url: '/a/..;/admin', headers: {} }, refused: { code: 'WEFT_ERR_HTTP_PATH', reason: 'http_path_dot_segment_params' } },
];

for (const r of rows) {
  t.test(r.name, async (t) => {
    const head = { ...r.head, headers: { ...r.head.headers } };
    const got = admitTarget(head, r.proto ?? 'http1', r.mode ?? 'merge-slashes');
    if (r.refused !== undefined) {
      t.same(got, r.refused);
      return;
    }
    t.equal(got, null, 'admitted');
    t.equal(head.url, r.after?.url);
    t.same(head.headers, r.after?.headers);
  });
}
