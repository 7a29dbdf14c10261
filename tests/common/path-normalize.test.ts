// Table tests of the path normaliser (common/path-normalize.ts), one row per behaviour, in every
// mode. Expected outputs are written by hand from RFC 3986 (§2.3 unreserved, §6.2.2.1 case of
// escapes, §5.2.4 dot segments and its examples) and the mode definitions in docs/policy.md.
import t from 'tap';
import { normalizePath, type PathNormalization, type PathRefusal } from '../../common/path-normalize.ts';

type Want = string | { refused: PathRefusal };
// [input, base, merge-slashes (default), decode-and-merge-slashes, what the row shows]
const ROWS: Array<[string, Want, Want, Want, string]> = [
  ['/', '/', '/', '/', 'root is already normal'],
  ['/api/v1/users?id=7', '/api/v1/users?id=7', '/api/v1/users?id=7', '/api/v1/users?id=7', 'a clean path is returned as is'],
  ['/admin', '/admin', '/admin', '/admin', 'no change'],
  ['//admin/x', '//admin/x', '/admin/x', '/admin/x', 'leading double slash: merged except in base'],
  ['/a///b//c', '/a///b//c', '/a/b/c', '/a/b/c', 'runs of slashes merged'],
  ['/%61dmin/x', '/admin/x', '/admin/x', '/admin/x', 'escaped unreserved letter decoded (§2.3)'],
  ['/%41%5A%30%2D%2E%5F%7E', '/AZ0-._~', '/AZ0-._~', '/AZ0-._~', 'every kind of unreserved character decoded'],
  ['/a%c3%a9', '/a%C3%A9', '/a%C3%A9', '/a%C3%A9', 'other escapes kept, hex upper-cased (§6.2.2.1)'],
  ['/a%20b', '/a%20b', '/a%20b', '/a%20b', 'an escaped space stays escaped'],
  ['/./admin/x', '/admin/x', '/admin/x', '/admin/x', '"." segment removed'],
  ['/x/../admin/x', '/admin/x', '/admin/x', '/admin/x', '".." removes the segment before it'],
  ['/%2e%2e/admin', '/admin', '/admin', '/admin', 'escaped dots are dots once decoded (decode before dot removal)'],
  ['/x/%2E./admin', '/admin', '/admin', '/admin', 'half-escaped ".."'],
  ['/../../admin', '/admin', '/admin', '/admin', '".." above the root stays at the root'],
  ['/a/b/c/./../../g', '/a/g', '/a/g', '/a/g', 'RFC 3986 §5.2.4 example'],
  ['/mid/content=5/../6', '/mid/6', '/mid/6', '/mid/6', 'RFC 3986 §5.2.4 example'],
  ['/a/b/..', '/a/', '/a/', '/a/', 'a last ".." leaves a trailing slash'],
  ['/a/.', '/a/', '/a/', '/a/', 'a last "." leaves a trailing slash'],
  ['/.', '/', '/', '/', 'lone "."'],
  ['/..', '/', '/', '/', 'lone ".."'],
  ['/a//../b', '/a/b', '/b', '/b', 'merging happens before dot removal; base drops the empty segment instead'],
  ['/.hidden/..x/...', '/.hidden/..x/...', '/.hidden/..x/...', '/.hidden/..x/...', 'segments that merely start with dots are names'],
  ['/admin?x=/../y&z=%2F', '/admin?x=/../y&z=%2F', '/admin?x=/../y&z=%2F', '/admin?x=/../y&z=%2F', 'the query is never touched'],
  ['/x/..?q', '/?q', '/?q', '/?q', 'the query follows the normalised path'],
  ['/a%2Fb', { refused: 'encoded_slash' }, { refused: 'encoded_slash' }, '/a/b', '%2F: refused, or a slash in decode mode'],
  ['/a%2fb', { refused: 'encoded_slash' }, { refused: 'encoded_slash' }, '/a/b', 'lower-case %2f too'],
  ['/x%2F..%2Fadmin', { refused: 'encoded_slash' }, { refused: 'encoded_slash' }, '/admin', 'decoded slashes take part in dot removal'],
  ['/a%5Cb', { refused: 'encoded_backslash' }, { refused: 'encoded_backslash' }, '/a/b', '%5C: refused, or a slash in decode mode'],
  ['/a\\b', { refused: 'backslash' }, { refused: 'backslash' }, '/a/b', 'raw backslash'],
  ['/x\\..\\admin', { refused: 'backslash' }, { refused: 'backslash' }, '/admin', 'backslash dot segments, decode mode'],
  ['/a%2F%2Fb', { refused: 'encoded_slash' }, { refused: 'encoded_slash' }, '/a/b', 'decoded slashes are merged'],
  ['/admin%00.html', { refused: 'nul' }, { refused: 'nul' }, { refused: 'nul' }, '%00 refused in every mode but none'],
  ['/a\u0000b', { refused: 'nul' }, { refused: 'nul' }, { refused: 'nul' }, 'raw NUL refused'],
  ['/%C0%AFadmin', { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, 'overlong "/" (C0 AF)'],
  ['/%c1%9c', { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, 'overlong "\\" (C1 9C)'],
  ['/%E0%80%AF', { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, 'three-byte overlong'],
  ['/%F0%80%80%AF', { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, { refused: 'overlong_utf8' }, 'four-byte overlong'],
  ['/%E0%A4%85', '/%E0%A4%85', '/%E0%A4%85', '/%E0%A4%85', 'a real three-byte character (U+0905) is fine'],
  ['/%F0%9F%98%80', '/%F0%9F%98%80', '/%F0%9F%98%80', '/%F0%9F%98%80', 'a real four-byte character is fine'],
  ['/a%zz', { refused: 'bad_escape' }, { refused: 'bad_escape' }, { refused: 'bad_escape' }, 'a "%" that is no escape'],
  ['/a%4', { refused: 'bad_escape' }, { refused: 'bad_escape' }, { refused: 'bad_escape' }, 'a truncated escape at the end'],
  ['/a%4?x', { refused: 'bad_escape' }, { refused: 'bad_escape' }, { refused: 'bad_escape' }, 'a truncated escape before the query'],
  ['/x/..;/admin', { refused: 'dot_segment_params' }, { refused: 'dot_segment_params' }, { refused: 'dot_segment_params' }, '"..;" is ".." to Tomcat'],
  ['/.;x/admin', { refused: 'dot_segment_params' }, { refused: 'dot_segment_params' }, { refused: 'dot_segment_params' }, '".;x" too'],
  ['/admin;x', '/admin;x', '/admin;x', '/admin;x', 'parameters on a name are kept (policy matching strips them)'],
  ['/Admin', '/Admin', '/Admin', '/Admin', 'case is kept: paths are case-sensitive'],
  ['*', '*', '*', '*', 'OPTIONS * is no path'],
];

const MODES: PathNormalization[] = ['base', 'merge-slashes', 'decode-and-merge-slashes'];

for (const [input, ...rest] of ROWS) {
  const why = rest[3] as string;
  t.test(`${JSON.stringify(input)}: ${why}`, async (t) => {
    MODES.forEach((mode, i) => t.same(normalizePath(input, mode), rest[i], mode));
    t.equal(normalizePath(input, 'none'), input, 'none leaves it alone');
  });
}

t.test('normal forms are fixed points: normalising twice changes nothing', async (t) => {
  for (const [input] of ROWS) {
    for (const mode of MODES) {
      const once = normalizePath(input, mode);
      if (typeof once === 'string') t.equal(normalizePath(once, mode), once, `${mode} ${JSON.stringify(input)}`);
    }
  }
});

t.test('a clean path comes back as the same string (no copy on the hot path)', async (t) => {
  const p = '/api/v1/orders/123?x=1';
  t.equal(normalizePath(p, 'merge-slashes'), p);
});
