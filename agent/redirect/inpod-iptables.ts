// In-pod capture with iptables (nat REDIRECT inside each pod's namespace). The mover around
// inpod-rules.ts: every operation reads the pod's nat table back, plans, and applies one
// `iptables-restore --noflush` batch inside the namespace (nsenter --net=PATH), so a pod is either
// fully captured or not at all, and a restarted agent rewrites exactly what its predecessor left.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { runCommand, type CommandRunner } from './command-runner.ts';
import { INPOD_CHAIN, parseInpodNat, planInpodInstall, planInpodUninstall } from './inpod-rules.ts';
import { registerPodCapture, type PodCapture, type PodCaptureOptions, type PodNetns } from './pod-capture.ts';

export class InpodIptablesCapture implements PodCapture {
  readonly name = 'iptables';
  readonly originalDestination = 'so-original-dst' as const;
  readonly transparentListeners = false;
  readonly outboundHost = '127.0.0.1';
  readonly inboundHost = '0.0.0.0';
  readonly options: PodCaptureOptions;
  readonly #exec: CommandRunner;

  constructor(opts: PodCaptureOptions) {
    this.options = { ...opts, excludeOutboundPorts: [...opts.excludeOutboundPorts] };
    this.#exec = opts.exec ?? runCommand;
  }

  async apply(pod: PodNetns): Promise<void> {
    const doc = planInpodInstall(parseInpodNat(await this.#save(pod)), this.options);
    if (doc !== undefined) await this.#restore(pod, doc);
  }

  async remove(pod: PodNetns): Promise<void> {
    let saved: string;
    try {
      saved = await this.#save(pod);
    } catch (err) {
      // The pod (and its namespace) went first: nothing of ours is left anywhere.
      if (err instanceof WeftError && err.code === ErrorCodes.NETNS_UNAVAILABLE) return;
      throw err;
    }
    const doc = planInpodUninstall(parseInpodNat(saved));
    if (doc !== undefined) await this.#restore(pod, doc);
  }

  async sweep(keep: readonly PodNetns[], seen: ReadonlyArray<{ inode: number; path: string; ip: string }>): Promise<number> {
    const kept = new Set(keep.map((p) => p.inode));
    let removed = 0;
    for (const ns of seen) {
      if (kept.has(ns.inode)) continue;
      const pod: PodNetns = { inode: ns.inode, path: ns.path, key: '', ip: ns.ip };
      let saved: string;
      try {
        saved = await this.#save(pod);
      } catch {
        continue; // vanished, or not ours to read: nothing to sweep there
      }
      const doc = planInpodUninstall(parseInpodNat(saved));
      if (doc === undefined) continue;
      await this.#restore(pod, doc);
      removed++;
    }
    return removed;
  }

  async describe(pod: PodNetns): Promise<unknown> {
    const s = parseInpodNat(await this.#save(pod));
    return {
      chains: [INPOD_CHAIN.out, INPOD_CHAIN.in].filter((c) => s.chains.has(c)),
      jumps: s.jumps.length,
      rules: s.rules.length,
    };
  }

  async #save(pod: PodNetns): Promise<string> {
    return (await this.#run(pod, 'iptables-save', ['-t', 'nat'])).stdout;
  }

  async #restore(pod: PodNetns, doc: string): Promise<void> {
    await this.#run(pod, 'iptables-restore', ['--noflush', '--wait'], doc);
  }

  async #run(pod: PodNetns, cmd: string, args: string[], input?: string) {
    const r = await this.#exec('nsenter', [`--net=${pod.path}`, '--', cmd, ...args], input);
    if (r.code === 0) return r;
    // nsenter reports a namespace it cannot open before running anything.
    if (/nsenter: (cannot open|reassociate to namespace)/.test(r.stderr)) {
      throw new WeftError(ErrorCodes.NETNS_UNAVAILABLE, `pod ${pod.key}: network namespace ${pod.path} is gone or not accessible: ${r.stderr.trim()}`);
    }
    throw new WeftError(ErrorCodes.REDIRECT_FAILED, `pod ${pod.key}: ${cmd} ${args.join(' ')} in ${pod.path} failed: ${r.stderr.trim() || 'no error output'} — is the nat table (iptable_nat / nft) available?`);
  }
}

registerPodCapture('iptables', (opts) => new InpodIptablesCapture(opts));
