// The anchors the agent verifies control's own serving certificate with: the mounted bundle file
// (re-read on every connect, so an updated ConfigMap takes effect without a restart) together
// with the anchors control itself sent in its last CSR answer. Control renews its serving
// certificate when the signing anchor changes (control/ca/serving-cert.ts); an agent that started
// before a rotation holds only the old anchor in its file, and without the second source it would
// lose control at the rotation's second step. Those anchors arrived over a connection verified
// with the anchors before them, so trusting them adds no one the agent did not already trust.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../common/log.ts';

/** A static list (tests, the CLI) or a source asked on every connect. */
export type ControlAnchors = string | readonly string[] | (() => Promise<readonly string[]>);

export async function resolveControlAnchors(a: ControlAnchors): Promise<readonly string[]> {
  if (typeof a === 'string') return [a];
  if (typeof a === 'function') return a();
  return a;
}

/** PEM blocks of a bundle file, trimmed; duplicates (by text) dropped, order kept. */
export function unionAnchors(...lists: ReadonlyArray<readonly string[]>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const list of lists) {
    for (const pem of list) {
      for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
        const key = block.replace(/\s+/g, '');
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(block);
      }
    }
  }
  return out;
}

export class ControlTrust {
  #fileAnchors: readonly string[];
  readonly #file: string;
  readonly #fromControl: () => readonly string[];
  readonly #log: Logger;

  /** `initial`: the file's content read at start (a missing file there is a start failure, as before). */
  constructor(opts: { file: string; initial: string; fromControl: () => readonly string[]; log: Logger }) {
    this.#file = opts.file;
    this.#fileAnchors = unionAnchors([opts.initial]);
    this.#fromControl = opts.fromControl;
    this.#log = opts.log;
  }

  readonly anchors = async (): Promise<readonly string[]> => {
    try {
      const text = await readFile(this.#file, 'utf8');
      const next = unionAnchors([text]);
      // A ConfigMap mid-update can be empty for a moment: keep the last anchors rather than trust nothing.
      if (next.length > 0) this.#fileAnchors = next;
    } catch (err) {
      this.#log.warn('cannot re-read control\'s trust bundle file; using the last one read', { file: this.#file, err });
    }
    return unionAnchors(this.#fileAnchors, this.#fromControl());
  };
}
