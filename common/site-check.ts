// Who may read a loopback HTTP surface from a browser: control's dashboard and the agent's admin
// server. Without a token (the dashboard's default: loopback behind kubectl port-forward; admin
// has none) the only thing between the operator's browser and the live tap is the browser itself,
// which lets any page open a WebSocket to 127.0.0.1. So two checks run on every WebSocket and
// every state-reading request:
//
//   Host   — the name the client addressed must be one this dashboard answers to: a loopback name
//            or IP, the address it binds, or one the operator listed (WEFT_DASHBOARD_ALLOWED_HOSTS).
//            This defeats DNS rebinding, where an attacker's name is made to resolve to 127.0.0.1:
//            the browser then thinks the page is same-origin, but it still sends the attacker's
//            name as Host.
//   Origin — a browser names the page that opened a WebSocket (always) or sent a cross-origin
//            request (fetch). It must be the server's own origin as the browser sees it, i.e.
//            http(s)://<the Host header>. A request without Origin is from a non-browser client
//            or a same-origin GET; Sec-Fetch-Site (sent by every current browser) then must not
//            say another site made it.
//
// Pure: headers in, a verdict out; the server counts and answers the refusals.
import { isLoopbackHost } from './loopback.ts';

export interface SiteHeaders {
  host?: string | undefined;
  origin?: string | undefined;
  'sec-fetch-site'?: string | undefined;
}

export type SiteVerdict =
  | { ok: true }
  | { ok: false; reason: 'host' | 'cross_site'; message: string };

const OK: SiteVerdict = { ok: true };

/** The host name of a Host header value (`name`, `name:port`, `[v6]:port`), lower-cased; null when malformed. */
export function hostName(host: string): string | null {
  const h = host.trim().toLowerCase();
  if (h === '') return null;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return null;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    return h.slice(0, end + 1);
  }
  const m = /^([^:\s/@]+)(?::\d{1,5})?$/.exec(h);
  return m === null ? null : m[1];
}

/** A name a loopback-bound server answers to: localhost (and *.localhost, RFC 6761), 127/8, ::1. */
function isLoopbackName(name: string): boolean {
  return isLoopbackHost(name) || name.endsWith('.localhost');
}

/**
 * The names (lower-case, without port; IPv6 in brackets) a server answers to besides
 * loopback: its bind host when that is a specific address, and the operator's list.
 */
export function allowedHostNames(bindHost: string, configured: readonly string[]): Set<string> {
  const out = new Set<string>();
  const b = bindHost.toLowerCase();
  if (b !== '' && b !== '0.0.0.0' && b !== '::') out.add(b.includes(':') && !b.startsWith('[') ? `[${b}]` : b);
  for (const c of configured) {
    const n = hostName(c);
    if (n !== null) out.add(n);
  }
  return out;
}

/** Is the Host one this server answers to? (The dashboard: every route but /healthz, the page too.) */
export function checkHost(host: string | undefined, allowed: ReadonlySet<string>): SiteVerdict {
  const name = hostName(host ?? '');
  if (name === null || (!isLoopbackName(name.replace(/^\[(.*)\]$/, '$1')) && !allowed.has(name))) {
    return {
      ok: false,
      reason: 'host',
      message: `this server does not answer to Host ${JSON.stringify(host ?? '')}: use http://127.0.0.1:<port> or http://localhost:<port> (kubectl port-forward), or, for the dashboard, list the name in WEFT_DASHBOARD_ALLOWED_HOSTS`,
    };
  }
  return OK;
}

/** Is this request one the server's own page (or a non-browser client) made, to a name it answers to? (WebSockets and state-reading requests.) */
export function checkSite(headers: SiteHeaders, allowed: ReadonlySet<string>): SiteVerdict {
  const host = headers.host ?? '';
  const h = checkHost(host, allowed);
  if (!h.ok) return h;
  const origin = headers.origin;
  if (origin !== undefined) {
    const o = origin.trim().toLowerCase();
    const self = host.trim().toLowerCase();
    if (o !== `http://${self}` && o !== `https://${self}`) {
      return { ok: false, reason: 'cross_site', message: `a page on ${origin === 'null' ? 'an opaque origin' : origin} may not read this server (it is not the server's own origin)` };
    }
    return OK;
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { ok: false, reason: 'cross_site', message: `a ${site} page may not read this server` };
  }
  return OK;
}
