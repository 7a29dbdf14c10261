// The agent's end of the weft-cni relay: a unix socket the chained CNI plugin connects to on
// every pod ADD and DEL. An ADD is answered only once the pod is captured (or known not to be
// meshed, or the model has not learned of it within the wait), so a meshed pod's containers
// never start before its traffic is steered to the agent. A DEL releases the pod's namespace.
import net from 'node:net';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorCode } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { netnsInode } from '../native/index.ts';
import { cniError, cniOk, parseCniRequest, type CniRequest } from './cni-request.ts';

/** What the relay needs from the pod registry (PodCaptureManager and the model). */
export interface CniRelayTarget {
  /** Records the pod's namespace and reconciles; resolves when that reconcile is done. */
  added(pod: { inode: number; path: string; key: string; ips: string[] }): Promise<void>;
  deleted(match: { inode?: number; path: string }): Promise<void>;
  /** The model's verdict on the pod now: captured, not meshed, failed, or not known yet. */
  verdict(inode: number, key: string, ips: string[]): 'captured' | 'not-meshed' | 'unknown' | { failed: string };
  /** Resolves on the next reconcile (or after ms). */
  changed(ms: number): Promise<void>;
}

export interface CniRelayOptions {
  socketPath: string;
  target: CniRelayTarget;
  /** How long an ADD waits for a pod the model does not know, now (WEFT_CNI_WAIT_MS, or 0). */
  waitMs: () => number;
  log: Logger;
}

const READ_TIMEOUT_MS = 10_000;

export class CniRelay {
  readonly #o: CniRelayOptions;
  readonly #server: net.Server;

  constructor(o: CniRelayOptions) {
    this.#o = o;
    // Half-open: the plugin shuts its write side to mark the request's end, then reads the answer.
    this.#server = net.createServer({ allowHalfOpen: true }, (s) => this.#handle(s));
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.#o.socketPath), { recursive: true });
    await rm(this.#o.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.socketPath, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    // Only root (the container runtime running the plugin) may tell the agent about pods.
    await chmod(this.#o.socketPath, 0o600);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(s: net.Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    s.setTimeout(READ_TIMEOUT_MS, () => s.destroy());
    s.on('error', () => {});
    s.on('data', (b: Buffer) => {
      size += b.length;
      if (size > 1 << 20) { s.destroy(); return; }
      chunks.push(b);
    });
    s.on('end', () => {
      s.setTimeout(0);
      this.#answer(Buffer.concat(chunks)).then((reply) => s.end(reply), (err: unknown) => s.end(cniError('1.0.0', 'weft agent failed', (err as Error).message)));
    });
  }

  async #answer(raw: Buffer): Promise<string> {
    let req: CniRequest;
    try {
      req = parseCniRequest(raw);
    } catch (err) {
      this.#o.log.warn('CNI relay: bad request', { code: errorCode(err), message: (err as Error).message });
      return cniError('1.0.0', 'weft-cni: bad request', (err as Error).message);
    }
    if (req.command === 'DEL') {
      let inode: number | undefined;
      try { inode = netnsInode(req.netns); } catch { /* already gone: match by path */ }
      await this.#o.target.deleted({ inode, path: req.netns });
      this.#o.log.info('CNI DEL', { pod: req.podKey, netns: req.netns });
      return cniOk(req);
    }
    let inode: number;
    try {
      inode = netnsInode(req.netns);
    } catch (err) {
      return cniError(req.cniVersion, `weft: cannot open the pod's network namespace ${req.netns}`, (err as Error).message);
    }
    if (req.command === 'ADD') await this.#o.target.added({ inode, path: req.netns, key: req.podKey, ips: req.ips });
    // Wait for the model to know the pod (it may learn of it after the sandbox is made).
    const waitMs = this.#o.waitMs();
    const deadline = Date.now() + waitMs;
    for (;;) {
      const v = this.#o.target.verdict(inode, req.podKey, req.ips);
      if (v === 'captured' || v === 'not-meshed') {
        this.#o.log.info(`CNI ${req.command}`, { pod: req.podKey, netns: req.netns, inode, verdict: v });
        return cniOk(req);
      }
      if (typeof v === 'object') return cniError(req.cniVersion, `weft: pod ${req.podKey} could not be captured`, v.failed);
      const left = deadline - Date.now();
      if (left <= 0) {
        // Not in the model yet: let it start; the registry captures it when the model learns it.
        this.#o.log.warn('CNI ADD: the model does not know the pod yet; it starts uncaptured until it does', { pod: req.podKey, netns: req.netns, waitedMs: waitMs });
        return cniOk(req);
      }
      await this.#o.target.changed(Math.min(left, 1000));
    }
  }
}
