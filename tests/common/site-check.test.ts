// Unit: the Host and Origin checks of the dashboard and the agent's admin server
// (common/site-check.ts), as a table of
// what browsers and other clients send. The in-process server test (dashboard-server.test.ts) and
// the browser test (tests/e2e/dash-browser.test.ts) drive the same checks through real clients.
import t from 'tap';
import { allowedHostNames, checkHost, checkSite, hostName, type SiteHeaders } from '../../common/site-check.ts';

t.test('hostName reads Host values', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['127.0.0.1:8084', '127.0.0.1'], ['LOCALHOST:8084', 'localhost'], ['localhost', 'localhost'], ['[::1]:8084', '[::1]'], ['[::1]', '[::1]'],
    ['dash.example', 'dash.example'], ['', null], ['[::1', null], ['[::1]x', null], ['a b:1', null], ['http://x/', null], ['user@x:1', null], ['x:99999999', null],
  ];
  for (const [h, want] of cases) t.equal(hostName(h), want, JSON.stringify(h));
});

t.test('Host and Origin decide: loopback names, the bind address, listed names; own origin only', async (t) => {
  const none = allowedHostNames('127.0.0.1', []);
  t.same([...none], ['127.0.0.1'], 'the bind address is allowed');
  t.same([...allowedHostNames('0.0.0.0', ['Dash.Example:443', 'bad name'])], ['dash.example'], 'a wildcard bind adds nothing; listed names lower-cased, port dropped, junk ignored');
  t.same([...allowedHostNames('::1', [])], ['[::1]']);
  const listed = allowedHostNames('0.0.0.0', ['dash.example']);
  const rows: Array<[string, SiteHeaders, ReadonlySet<string>, true | 'host' | 'cross_site']> = [
    ['curl to 127.0.0.1', { host: '127.0.0.1:8084' }, none, true],
    ['curl to another 127/8 address', { host: '127.0.0.9:8084' }, none, true],
    ['curl to localhost', { host: 'localhost:8084' }, none, true],
    ['curl to [::1]', { host: '[::1]:8084' }, none, true],
    ['a *.localhost name (RFC 6761: always loopback)', { host: 'weft.localhost:8084' }, none, true],
    ['no Host at all', {}, none, 'host'],
    ['DNS rebinding', { host: 'attacker.example:8084', origin: 'http://attacker.example:8084' }, none, 'host'],
    ['a name that merely starts like localhost', { host: 'localhost.attacker.example:8084' }, none, 'host'],
    ['127.0.0.1 as a subdomain', { host: '127.0.0.1.attacker.example' }, none, 'host'],
    ['a listed name', { host: 'dash.example' }, listed, true],
    ['the own page on 127.0.0.1', { host: '127.0.0.1:8084', origin: 'http://127.0.0.1:8084' }, none, true],
    ['the own page on localhost (port-forward)', { host: 'localhost:8084', origin: 'http://localhost:8084' }, none, true],
    ['the own page, origin in capitals', { host: 'localhost:8084', origin: 'HTTP://LOCALHOST:8084' }, none, true],
    ['the own page behind TLS termination', { host: 'dash.example', origin: 'https://dash.example' }, listed, true],
    ['another site', { host: '127.0.0.1:8084', origin: 'https://evil.example' }, none, 'cross_site'],
    ['another port on the same host', { host: '127.0.0.1:8084', origin: 'http://127.0.0.1:8085' }, none, 'cross_site'],
    ['the other loopback name', { host: '127.0.0.1:8084', origin: 'http://localhost:8084' }, none, 'cross_site'],
    ['an opaque origin', { host: '127.0.0.1:8084', origin: 'null' }, none, 'cross_site'],
    ['origin without port', { host: '127.0.0.1:8084', origin: 'http://127.0.0.1' }, none, 'cross_site'],
    ['a suffix trick', { host: '127.0.0.1:8084', origin: 'http://127.0.0.1:8084.evil.example' }, none, 'cross_site'],
    ['no Origin, Sec-Fetch-Site same-origin', { host: '127.0.0.1:8084', 'sec-fetch-site': 'same-origin' }, none, true],
    ['no Origin, Sec-Fetch-Site none (typed URL)', { host: '127.0.0.1:8084', 'sec-fetch-site': 'none' }, none, true],
    ['no Origin, Sec-Fetch-Site same-site', { host: '127.0.0.1:8084', 'sec-fetch-site': 'same-site' }, none, 'cross_site'],
    ['no Origin, Sec-Fetch-Site cross-site', { host: '127.0.0.1:8084', 'sec-fetch-site': 'cross-site' }, none, 'cross_site'],
  ];
  for (const [why, headers, allowed, want] of rows) {
    const v = checkSite(headers, allowed);
    if (want === true) t.ok(v.ok, `${why}: allowed`);
    else t.match(v, { ok: false, reason: want }, `${why}: refused (${want})`);
  }
  t.match(checkHost('attacker.example', none), { ok: false, reason: 'host', message: /WEFT_DASHBOARD_ALLOWED_HOSTS/ }, 'the message says what to set');
  t.ok(checkHost('localhost:1', none).ok);
});
