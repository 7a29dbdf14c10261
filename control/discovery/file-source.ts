// The `file` discovery source: Kubernetes manifests on disk (one YAML file, or a directory of
// .yaml/.yml files, each possibly multi-document) become the model. The sandbox and the testbed
// describe their "cluster" this way; a ConfigMap mounted as a directory works too (its files are
// symlinks swapped atomically through `..data`, which a directory watch sees).
//
// Reloads: fs.watch for promptness plus a slow poll, because watches miss events on some
// filesystems (overlay, NFS, bind mounts) and die when a watched file is replaced. Events are
// debounced; reloads never overlap; a content signature makes an unchanged poll free. An invalid
// file is reported once with WEFT_ERR_SOURCE_INVALID and the last good model stays: nothing is
// half-applied because translation runs over every file before the sink hears anything.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ErrorCodes, WeftError, isWeftError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { DEFAULT_PATH_NORMALIZATION, type PathNormalization } from '../../common/path-normalize.ts';
import { translateObjects, type SourceObject, type TranslateOptions } from './k8s-translate.ts';
import { registerDiscoverySource, type DiscoverySource, type RecordSink } from './source.ts';

export const FILE_SOURCE = 'file';

export interface FileSourceOptions {
  /** A YAML file, or a directory whose top-level .yaml/.yml files are read in name order. */
  path: string;
  trustDomain: string;
  pathNormalization?: PathNormalization;
  log: Logger;
  /** Safety net for missed watch events. */
  pollIntervalMs?: number;
  /** Editors and `kubectl`-style writers touch a file several times per save. */
  debounceMs?: number;
  /** Hears every invalid load (after it is logged); for control's status and for tests. */
  onError?: (err: WeftError) => void;
}

const YAML_FILE = /\.ya?ml$/;

interface Manifests {
  objects: SourceObject[];
  signature: string;
}

function invalid(message: string, cause?: unknown): WeftError {
  return new WeftError(ErrorCodes.SOURCE_INVALID, `${message} — the last good model stays in use`, { cause });
}

async function listFiles(path: string): Promise<{ files: string[]; watchDir: string }> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw invalid(`cannot read manifests at ${path}: ${(err as Error).message}`, err);
  }
  if (!st.isDirectory()) return { files: [path], watchDir: dirname(path) };
  const names = (await readdir(path)).filter((n) => YAML_FILE.test(n) && !n.startsWith('.')).sort();
  const files: string[] = [];
  for (const n of names) {
    // stat follows symlinks: ConfigMap volumes present every key as a symlink.
    const s = await stat(join(path, n)).catch(() => null);
    if (s?.isFile()) files.push(join(path, n));
  }
  return { files, watchDir: path };
}

/** Reads and parses every manifest; throws WEFT_ERR_SOURCE_INVALID naming the file. */
export async function readManifests(path: string): Promise<Manifests> {
  const { files } = await listFiles(path);
  const hash = createHash('sha256');
  const objects: SourceObject[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw invalid(`cannot read ${file}: ${(err as Error).message}`, err);
    }
    hash.update(file).update('\0').update(text).update('\0');
    const docs = parseAllDocuments(text);
    let n = 0;
    for (const doc of docs) {
      n++;
      const err = doc.errors[0];
      if (err !== undefined) {
        const where = err.linePos?.[0] ? `:${err.linePos[0].line}:${err.linePos[0].col}` : '';
        throw invalid(`${file}${where}: invalid YAML in document ${n}: ${err.message.split('\n')[0]}`);
      }
      // toJS resolves aliases: an alias to no anchor, or one that expands past the library's
      // alias budget (a "billion laughs" file), throws here rather than in doc.errors (found by
      // tests/fuzz/config-parse.test.ts; it escaped as a bare ReferenceError).
      let value: unknown;
      try {
        value = doc.toJS();
      } catch (err) {
        throw invalid(`${file}: invalid YAML in document ${n}: ${(err as Error).message.split('\n')[0]}`, err);
      }
      if (value === null || value === undefined) continue; // an empty document (`---` at the end)
      objects.push({ origin: docs.length > 1 ? `${file}#${n}` : file, object: value });
    }
  }
  return { objects, signature: hash.digest('hex') };
}

export class FileSource implements DiscoverySource {
  readonly name = FILE_SOURCE;
  readonly #opts: Required<Omit<FileSourceOptions, 'onError'>> & Pick<FileSourceOptions, 'onError'>;
  #sink: RecordSink | null = null;
  #watcher: FSWatcher | null = null;
  #poll: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #seenSignature = '';
  #lastError: WeftError | null = null;

  constructor(options: FileSourceOptions) {
    this.#opts = { pollIntervalMs: 5000, debounceMs: 100, pathNormalization: DEFAULT_PATH_NORMALIZATION, ...options };
  }

  #translate(): TranslateOptions {
    return { trustDomain: this.#opts.trustDomain, pathNormalization: this.#opts.pathNormalization };
  }

  /** The error of the latest load, null when the latest load was good. */
  get lastError(): WeftError | null {
    return this.#lastError;
  }

  async start(sink: RecordSink): Promise<void> {
    if (this.#sink !== null) throw new Error('file source started twice');
    this.#sink = sink;
    // The first load must succeed: control with no model would tell agents the cluster is empty.
    const first = await readManifests(this.#opts.path);
    sink(translateObjects(first.objects, this.#translate()));
    this.#seenSignature = first.signature;
    this.#opts.log.info('manifests loaded', { path: this.#opts.path, objects: first.objects.length });
    if (this.#stopped) return;

    const { watchDir } = await listFiles(this.#opts.path);
    const file = watchDir === this.#opts.path ? null : basename(this.#opts.path);
    try {
      this.#watcher = watch(watchDir, { persistent: false }, (_event, name) => {
        if (file === null || name === null || name === file) this.#schedule();
      });
      this.#watcher.on('error', (err) => {
        this.#opts.log.warn('manifest watch failed; relying on polling', { path: watchDir, err });
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch (err) {
      this.#opts.log.warn('cannot watch manifests; relying on polling', { path: watchDir, err });
    }
    this.#poll = setInterval(() => this.#schedule(), this.#opts.pollIntervalMs);
    this.#poll.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#poll !== null) clearInterval(this.#poll);
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#poll = this.#debounce = null;
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      void this.#reload();
    }, this.#opts.debounceMs);
    this.#debounce.unref();
  }

  async #reload(): Promise<void> {
    if (this.#running !== null) {
      this.#again = true; // one more pass after the current one sees the newest files
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#loadOnce();
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #loadOnce(): Promise<void> {
    let manifests: Manifests | null = null;
    try {
      manifests = await readManifests(this.#opts.path);
      if (manifests.signature === this.#seenSignature) return;
      const records = translateObjects(manifests.objects, this.#translate());
      this.#seenSignature = manifests.signature;
      if (this.#stopped) return;
      this.#lastError = null;
      this.#opts.log.info('manifests reloaded', { path: this.#opts.path, objects: manifests.objects.length, records: records.length });
      this.#sink?.(records);
    } catch (err) {
      // Remember the bad content too, so a broken file is reported once, not on every poll.
      if (manifests !== null) this.#seenSignature = manifests.signature;
      else if (this.#lastError !== null && isWeftError(err) && err.message === this.#lastError.message) return;
      const e = isWeftError(err) ? err : invalid(`loading ${this.#opts.path} failed: ${(err as Error).message}`, err);
      this.#lastError = e;
      this.#opts.log.warn('manifests invalid', { path: this.#opts.path, err: e });
      this.#opts.onError?.(e);
    }
  }
}

// Options: `{ path: string, pollIntervalMs?: number }`.
registerDiscoverySource(FILE_SOURCE, (ctx) => {
  const { path, pollIntervalMs } = ctx.options;
  if (typeof path !== 'string' || path === '') throw new WeftError(ErrorCodes.CONFIG_INVALID, 'the file discovery source needs a path to a manifest file or directory');
  return new FileSource({
    path,
    trustDomain: ctx.trustDomain,
    ...(ctx.pathNormalization !== undefined ? { pathNormalization: ctx.pathNormalization } : {}),
    log: ctx.log,
    ...(typeof pollIntervalMs === 'number' ? { pollIntervalMs } : {}),
  });
});
