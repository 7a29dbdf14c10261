// Is a bind host or Host name loopback? Used wherever a listener must stay on the machine (the
// agent's admin server, control's dashboard without a token) and where a Host name is checked.
// IPv6 may come bracketed. `localhost` counts: it is loopback by RFC 6761 and in every image we ship.

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** `host:port` (IPv6 bracketed or not: the port is after the last colon) → parts; null when malformed. */
export function splitHostPort(address: string): { host: string; port: number } | null {
  const i = address.lastIndexOf(':');
  if (i < 0) return null;
  const port = address.slice(i + 1);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return null;
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  if (host === '' || /[\s/@[\]]/.test(host)) return null;
  return { host, port: Number(port) };
}
