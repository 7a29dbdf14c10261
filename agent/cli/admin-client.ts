// How the CLI reaches the node's agent: its admin unix socket (default) or host:port. Connection
// failures become stable codes with a hint, because "ECONNREFUSED" alone does not tell an
// operator that the agent is down.
import http from 'node:http';
import WebSocket from 'ws';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

export const DEFAULT_SOCKET = '/var/run/weft/agent.sock';

export type AgentTarget = { socket: string } | { host: string; port: number };

export function describeTarget(t: AgentTarget): string {
  return 'socket' in t ? t.socket : `${t.host}:${t.port}`;
}

export function parseAgentAddress(a: string): AgentTarget {
  const i = a.lastIndexOf(':');
  const port = Number(a.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new WeftError(ErrorCodes.CLI_USAGE, `--agent wants host:port, got "${a}"`);
  }
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/** Maps a socket error to what the operator should do about it. */
export function connectError(t: AgentTarget, err: Error & { code?: string }): WeftError {
  const where = describeTarget(t);
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
    case 'ENOTSOCK':
      return new WeftError(ErrorCodes.CLI_AGENT_UNREACHABLE,
        `cannot reach the agent at ${where} (${err.code}): is the weft agent running on this node? (${ErrorCodes.CLI_AGENT_UNREACHABLE})`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new WeftError(ErrorCodes.CLI_PERMISSION,
        `permission denied opening ${where}: run as root or as a member of the socket's group, or pass --agent host:port (${ErrorCodes.CLI_PERMISSION})`, { cause: err });
    default:
      return new WeftError(ErrorCodes.CLI_AGENT_UNREACHABLE, `talking to the agent at ${where} failed: ${err.message} (${ErrorCodes.CLI_AGENT_UNREACHABLE})`, { cause: err });
  }
}

export interface AgentAnswer {
  status: number;
  contentType: string;
  text: string;
}

export function getRaw(t: AgentTarget, path: string, timeoutMs = 10_000): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const base = 'socket' in t ? { socketPath: t.socket } : { host: t.host, port: t.port };
    const req = http.get({ ...base, path, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(connectError(t, err)));
  });
}

/** GET a JSON endpoint; a non-2xx answer becomes WEFT_ERR_CLI_AGENT_ERROR with the agent's message. */
export async function getJson<T>(t: AgentTarget, path: string): Promise<T> {
  const a = await getRaw(t, path);
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    body = a.text;
  }
  if (a.status < 200 || a.status >= 300) {
    const msg = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : a.text.trim();
    throw new WeftError(ErrorCodes.CLI_AGENT_ERROR, `the agent answered ${a.status} for ${path}: ${msg}`);
  }
  return body as T;
}

/** Opens the live tap; resolves once the agent accepted it. */
export function openTap(t: AgentTarget, query: string): Promise<WebSocket> {
  const url = 'socket' in t ? `ws+unix://${t.socket}:/tap${query}` : `ws://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}/tap${query}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let msg = text;
        try {
          msg = (JSON.parse(text) as { message: string }).message;
        } catch {
          // not JSON
        }
        reject(new WeftError(res.statusCode === 400 ? ErrorCodes.TAP_FILTER : ErrorCodes.CLI_AGENT_ERROR, `tap refused (${res.statusCode}): ${msg}`));
      });
    });
    ws.once('error', (err: Error & { code?: string }) => reject(connectError(t, err)));
  });
}
