// The sandbox's node credential: one opaque token per node, handed to that node's agent out of
// band (a file the testbed writes). Control maps the token back to its node. Tokens are compared
// in constant time over a fixed-length digest so neither the content nor the length of a valid
// token leaks through timing, and every token is checked so the position in the table does not.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { registerNodeAuthenticator, type AuthenticatedNode, type NodeAuthenticator } from './authenticator.ts';

export const BOOTSTRAP_TOKEN_AUTHENTICATOR = 'bootstrap-token';

/** Shorter tokens are guessable; refuse them at load time rather than at the first attack. */
export const MIN_TOKEN_LENGTH = 16;

interface Entry {
  node: string;
  digest: Buffer;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class BootstrapTokenAuthenticator implements NodeAuthenticator {
  readonly name = BOOTSTRAP_TOKEN_AUTHENTICATOR;
  readonly #entries: Entry[];

  /** `tokens` maps node name → token. Tokens must be unique: a token names exactly one node. */
  constructor(tokens: ReadonlyMap<string, string> | Readonly<Record<string, string>>) {
    const pairs = tokens instanceof Map ? [...tokens.entries()] : Object.entries(tokens);
    const seen = new Set<string>();
    this.#entries = [];
    for (const [node, token] of pairs) {
      if (typeof node !== 'string' || node === '') throw configError('a node name is empty');
      if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
        throw configError(`the token for node ${JSON.stringify(node)} is shorter than ${MIN_TOKEN_LENGTH} characters`);
      }
      const d = digest(token);
      const hex = d.toString('hex');
      if (seen.has(hex)) throw configError(`node ${JSON.stringify(node)} shares its token with another node; give each node its own`);
      seen.add(hex);
      this.#entries.push({ node, digest: d });
    }
  }

  get nodes(): string[] {
    return this.#entries.map((e) => e.node);
  }

  async authenticate(credential: string): Promise<AuthenticatedNode> {
    const d = digest(typeof credential === 'string' ? credential : '');
    let found: string | undefined;
    for (const e of this.#entries) {
      // No early exit: the scan costs the same wherever (or whether) the token is found.
      if (timingSafeEqual(e.digest, d) && found === undefined) found = e.node;
    }
    if (found === undefined) {
      throw new WeftError(
        ErrorCodes.STREAM_UNAUTHENTICATED,
        'unknown bootstrap token: check that the agent was given the token control has for its node',
      );
    }
    return { node: found };
  }
}

function configError(message: string): WeftError {
  return new WeftError(ErrorCodes.CONFIG_INVALID, `bootstrap tokens: ${message}`);
}

/**
 * Parses a token table: either a JSON object `{ "node": "token" }`, or lines `node token`
 * (blank lines and `#` comments allowed). Errors name the line, never the token.
 */
export function parseBootstrapTokens(text: string, origin = 'bootstrap tokens'): Map<string, string> {
  const out = new Map<string, string>();
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, `${origin}: not valid JSON (${(err as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, `${origin}: expected an object of node → token`);
    }
    for (const [node, token] of Object.entries(parsed)) {
      if (typeof token !== 'string') throw new WeftError(ErrorCodes.CONFIG_INVALID, `${origin}: the token for node ${JSON.stringify(node)} is not a string`);
      out.set(node, token);
    }
    return out;
  }
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, `${origin}:${i + 1}: expected "node token", found ${fields.length} fields`);
    }
    const [node, token] = fields;
    if (out.has(node)) throw new WeftError(ErrorCodes.CONFIG_INVALID, `${origin}:${i + 1}: node ${JSON.stringify(node)} appears twice`);
    out.set(node, token);
  }
  return out;
}

export async function loadBootstrapTokens(path: string): Promise<BootstrapTokenAuthenticator> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `cannot read bootstrap tokens from ${path}: ${(err as Error).message}`, { cause: err });
  }
  return new BootstrapTokenAuthenticator(parseBootstrapTokens(text, path));
}

// Options: `{ file: string }` or `{ tokens: Record<node, token> | Map<node, token> }`.
registerNodeAuthenticator(BOOTSTRAP_TOKEN_AUTHENTICATOR, async (options) => {
  const { file, tokens } = options;
  if (typeof file === 'string') return loadBootstrapTokens(file);
  if (tokens instanceof Map) return new BootstrapTokenAuthenticator(tokens as Map<string, string>);
  if (tokens !== null && typeof tokens === 'object') return new BootstrapTokenAuthenticator(tokens as Record<string, string>);
  throw configError('give either a token file or a tokens table');
});
