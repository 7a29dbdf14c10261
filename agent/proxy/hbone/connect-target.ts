// The `host:port` of an HTTP/2 CONNECT (:authority), parsed strictly: a tunnel to a malformed
// target is refused with 400 rather than guessed at.
import { isIP } from 'node:net';

export interface TunnelTarget {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

/** Parses `host:port`, `[v6]:port`; null when it is anything else. */
export function parseConnectTarget(authority: string | undefined): TunnelTarget | null {
  if (authority === undefined) return null;
  let host: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']:');
    if (close < 0) return null;
    host = authority.slice(1, close);
    portText = authority.slice(close + 2);
    if (isIP(host) !== 6) return null;
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon <= 0) return null;
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
    if (isIP(host) !== 4 && !HOSTNAME.test(host)) return null;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

/** The :authority for a CONNECT to a target. */
export function formatConnectTarget(target: TunnelTarget): string {
  return isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}
