// A real Kubernetes node on this machine, joined to a KubeCluster (tests/kube): containerd (Debian
// 1.6) + runc + the standard `bridge`/`host-local`/`portmap` CNI plugins (Debian's, linked into a
// bin folder of the node's own), kubelet and kube-proxy
// (iptables mode) v1.28.7 from ../shared/kube. Every address it uses is on this machine:
//
// - pods get addresses from `podCidr` on a bridge of its own (`wb-<name>`, bridge-nf-call-iptables=1
//   as kubeadm requires), masqueraded only when they leave the pod range;
// - the node IP is a /32 on a veth pair of its own (`wn-<name>`); the kubelet, the API server forwarder (pods reach the API
//   server through the `kubernetes` Service → node IP → loopback) and the cluster DNS stand-in
//   listen there;
// - the Service range is routed into a dead end (the node IP's veth, whose peer stays down): a
//   ClusterIP packet is translated by kube-proxy or dropped on this machine, never sent along the
//   default route. (An `unreachable` route would break host-network clients: see #hostNetwork.)
//
// Everything is named after the test and undone by stop() even after a failure: pods are
// force-deleted while the kubelet still runs (so the CNI DEL removes their veths, NAT rules and IPAM
// leases), then kubelet, kube-proxy (`kube-proxy --cleanup` removes its KUBE-* chains), containerd and
// its shims end, mounts under the test's folders are unmounted, and the links, the route, the
// sysctls the node changed, /var/log/pods entries and the kubepods cgroups go.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, firstServiceIp, spawnLogged, type KubeCluster } from '../kube/kube-cluster.ts';
import { makeClientCert } from '../kube/kube-pki.ts';
import { dnsAnswer, dnsQuestion } from './cluster-dns.ts';
import { hostSnapshot, hostSnapshotSync, restoreHost, restorePlan, type HostSnapshot } from './host-leftovers.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface KubeNodeOptions {
  /** Short, [a-z0-9-]: the bridge is `wb-<name>`, the node IP's veth `wn-<name>` (≤ 13 characters in all). */
  name: string;
  /** The node's address (a /32 on a veth of its own). */
  nodeIp: string;
  /** The pod range (host-local IPAM on the bridge), e.g. 10.247.0.0/24. */
  podCidr: string;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((ok) => {
    const child = execFile(cmd, args, { maxBuffer: 256 << 20, timeout: opts.timeoutMs ?? 120_000 }, (err, stdout, stderr) => {
      ok({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

async function must(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** What the node needs on this machine; the reason it cannot start, or undefined. */
export function missingForNode(kube: KubeCluster): string | undefined {
  const need: Array<[string, string]> = [
    ['/usr/bin/containerd', 'containerd'], ['/usr/bin/ctr', 'containerd'], ['/usr/sbin/runc', 'runc'],
    ['/usr/lib/cni/bridge', 'containernetworking-plugins'], ['/usr/bin/buildah', 'buildah'], ['/usr/bin/tcpdump', 'tcpdump'],
    ['/usr/bin/gcc', 'gcc'], ['/usr/sbin/conntrack', 'conntrack'],
  ];
  const missing = need.filter(([p]) => !existsSync(p) && !existsSync(p.replace('/usr/sbin/', '/usr/bin/')));
  if (missing.length > 0) return `missing Debian packages: ${[...new Set(missing.map(([, pkg]) => pkg))].join(' ')} (scripts/node-tier.sh installs them)`;
  for (const tool of ['kubelet', 'kube-proxy', 'kube-scheduler'] as const) if (kube.bins.tools[tool] === undefined) return `${tool}.xz is missing from ${kube.bins.sourceDir}`;
  if (process.getuid?.() !== 0) return 'the node tier needs root';
  return undefined;
}

const live = new Set<ChildProcess>();
const liveSockets = new Set<string>();
/** The shims containerd started for this node (they leave containerd's process group). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.includes('containerd-shim')) && cmd.includes(socket)) pids.push(Number(pid));
    } catch { /* gone */ }
  }
  return pids;
}
const liveNodes = new Set<KubeNode>();
/** Last resort when the test process ends without stop() (tap's timeout, ^C): synchronous, best effort. */
function stopAllSync(): void {
  for (const c of live) if (c.exitCode === null && c.pid !== undefined) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  for (const s of liveSockets) for (const pid of shimPids(s)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const n of liveNodes) n.stopSync();
  liveNodes.clear();
}
process.on('exit', stopAllSync);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  const onSignal = (): void => {
    stopAllSync();
    // The control plane's handler (tests/kube) ran first and left re-raising to the last handler.
    if (process.listeners(signal).at(-1) === onSignal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
  };
  process.on(signal, onSignal);
}

export class KubeNode {
  readonly kube: KubeCluster;
  readonly name: string;
  readonly nodeName: string;
  readonly nodeIp: string;
  readonly podCidr: string;
  readonly dir: string;
  readonly bridge: string;
  /** The veth (and its peer, `<name>p`) that holds the node IP. */
  readonly hostLink: string;
  readonly cniNetwork: string;
  readonly containerdSocket: string;
  /** The runtime's CNI configuration folder (the node's conflist; a chained plugin adds itself here). */
  readonly cniConfDir: string;
  /** The runtime's CNI plugin folder: links to Debian's plugins (/usr/lib/cni), and room for a chained plugin. */
  readonly cniBinDir: string;
  readonly #undo: Array<[string, () => Promise<unknown>, (() => void)?]> = [];
  readonly #procs = new Map<string, ChildProcess>();
  #dns: Socket | undefined;
  #forwarder: net.Server | undefined;
  #stopped = false;
  #stoppedSync = false;
  /** What start() measured, in ms. */
  readonly timings: Record<string, number> = {};

  private constructor(kube: KubeCluster, opts: KubeNodeOptions) {
    this.kube = kube;
    this.name = opts.name;
    this.nodeName = `weft-node-${opts.name}`;
    this.nodeIp = opts.nodeIp;
    this.podCidr = opts.podCidr;
    this.dir = join(kube.dir, 'node');
    this.bridge = `wb-${opts.name}`.slice(0, 15);
    this.hostLink = `wn-${opts.name}`.slice(0, 14);
    this.cniNetwork = `weft-node-${opts.name}`;
    this.containerdSocket = join(this.dir, 'containerd.sock');
    this.cniConfDir = join(this.dir, 'net.d');
    this.cniBinDir = join(this.dir, 'cni-bin');
  }

  /** Starts the node; on any failure undoes what was done and throws. */
  static async start(kube: KubeCluster, opts: KubeNodeOptions): Promise<KubeNode> {
    const n = new KubeNode(kube, opts);
    liveNodes.add(n);
    const started = Date.now();
    try {
      await mkdir(n.dir, { recursive: true });
      n.#before = await hostSnapshot();
      await n.#hostNetwork();
      await n.#apiForwarder();
      await n.#clusterDns();
      await n.#containerd();
      await n.#pauseImage();
      await n.#cniConfig();
      await n.#kubelet();
      await n.#kubeProxy();
    } catch (err) {
      await n.stop();
      throw err;
    }
    n.timings.start = Date.now() - started;
    return n;
  }

  #spawn(label: string, cmd: string, args: string[]): ChildProcess {
    const child = spawnLogged(this.dir, label, cmd, args, live);
    this.#procs.set(label, child);
    return child;
  }

  async logTail(label: string, lines = 30): Promise<string> {
    try {
      return (await readFile(join(this.dir, `${label}.log`), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async #waitFor(label: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const child = this.#procs.get(label);
    while (Date.now() < deadline) {
      if (child !== undefined && child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode}:\n${await this.logTail(label)}`);
      if (await ready().catch(() => false)) return;
      await sleep(500);
    }
    throw new Error(`${label} not ready after ${timeoutMs} ms:\n${await this.logTail(label)}`);
  }

  async #sysctl(key: string, value: string): Promise<void> {
    const path = `/proc/sys/${key.replaceAll('.', '/')}`;
    const before = (await readFile(path, 'utf8')).trim();
    if (before === value) return;
    await writeFile(path, value);
    this.#undo.push([`sysctl ${key}=${before}`, () => writeFile(path, before), () => writeFileSync(path, before)]);
  }

  /** The node's address, the Service range's dead-end route, and the sysctls a bridge CNI with kube-proxy needs. */
  async #hostNetwork(): Promise<void> {
    const range = this.kube.serviceCidr;
    if ((await run('ip', ['route', 'show', 'exact', range])).stdout.trim() !== '') throw new Error(`a route for ${range} exists already: another node tier running?`);
    // The node IP lives on a veth pair of its own in the root namespace (this kernel has no dummy
    // links, and the bridge plugin allows no IPv4 address on its bridge but the pods' gateway).
    // Its peer stays down: a dead end. The Service range is routed into it, so a ClusterIP packet
    // that kube-proxy does not translate is dropped on this machine (the link has no carrier, not
    // even ARP leaves). Not an `unreachable` route: a host-network client (the agent dialling
    // control's ClusterIP) needs a route for connect() before kube-proxy's OUTPUT DNAT runs, and
    // gets EHOSTUNREACH from an unreachable one.
    const peer = `${this.hostLink}p`;
    await must('ip', ['link', 'add', this.hostLink, 'type', 'veth', 'peer', 'name', peer]);
    this.#undo.push([`ip link del ${this.hostLink}`, () => run('ip', ['link', 'del', this.hostLink]), () => { try { execFileSync('ip', ['link', 'del', this.hostLink], { stdio: 'ignore' }); } catch { /* gone */ } }]);
    await must('ip', ['addr', 'add', `${this.nodeIp}/32`, 'dev', this.hostLink]);
    await must('ip', ['link', 'set', this.hostLink, 'up']);
    await must('ip', ['route', 'add', range, 'dev', this.hostLink]);
    await ensureSharedNetnsDir();
    await this.#sysctl('net.ipv4.ip_forward', '1');
    await this.#sysctl('net.bridge.bridge-nf-call-iptables', '1');
  }

  /**
   * Pods reach the API server as in-cluster clients do: the `kubernetes` Service (its ClusterIP is
   * in the serving certificate), whose EndpointSlice names the node IP, where this forwards to the
   * API server on loopback.
   */
  async #apiForwarder(): Promise<void> {
    const port = 6443;
    this.#forwarder = net.createServer((inbound) => {
      const outbound = net.connect(this.kube.apiPort, '127.0.0.1');
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((ok, fail) => this.#forwarder!.once('error', fail).listen(port, this.nodeIp, () => ok()));
    await this.kube.apply([{
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'weft-node-test' } },
      addressType: 'IPv4', endpoints: [{ addresses: [this.nodeIp], conditions: { ready: true } }],
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    }]);
  }

  /**
   * A stand-in for CoreDNS (which Debian does not ship): `<service>.<namespace>.svc.cluster.local`
   * answered with the Service's ClusterIP from the API server, everything else NXDOMAIN — nothing
   * is forwarded off the machine.
   */
  async #clusterDns(): Promise<void> {
    const sock = createSocket('udp4');
    this.#dns = sock;
    sock.on('message', (msg, rinfo) => {
      const q = dnsQuestion(msg);
      if (q === undefined) return;
      void this.#serviceIp(q.name).then((ip) => {
        sock.send(dnsAnswer(msg, q, ip), rinfo.port, rinfo.address);
      });
    });
    await new Promise<void>((ok, fail) => sock.once('error', fail).bind(53, this.nodeIp, () => ok()));
  }

  /** The ClusterIP of `<svc>.<ns>.svc.cluster.local`; null when the name exists without an address; undefined: no such name. */
  async #serviceIp(name: string): Promise<string | null | undefined> {
    const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local\.?$/i.exec(name);
    if (m === null) return undefined;
    const r = await this.kube.request('GET', `/api/v1/namespaces/${m[2]!.toLowerCase()}/services/${m[1]!.toLowerCase()}`).catch(() => ({ status: 0, body: undefined }));
    if (r.status !== 200) return undefined;
    const ip = (r.body as { spec?: { clusterIP?: string } }).spec?.clusterIP;
    return ip !== undefined && ip !== 'None' ? ip : null;
  }

  async #containerd(): Promise<void> {
    const root = join(this.dir, 'containerd-root');
    const state = join(this.dir, 'containerd-state');
    const config = join(this.dir, 'containerd.toml');
    // containerd 1.6's `config default`, reduced to what differs: its own folders and socket, the
    // test's pause image, Debian's CNI plugins, cgroupfs, and restrict_oom_score_adj (root here
    // cannot set a negative OOM score; without it every sandbox fails to start).
    await writeFile(config, [
      'version = 2',
      `root = ${JSON.stringify(root)}`,
      `state = ${JSON.stringify(state)}`,
      '[grpc]', `  address = ${JSON.stringify(this.containerdSocket)}`,
      '[ttrpc]', `  address = ${JSON.stringify(`${this.containerdSocket}.ttrpc`)}`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = ${JSON.stringify(this.pauseImage)}`,
      '  restrict_oom_score_adj = true',
      '  enable_selinux = false',
      '[plugins."io.containerd.grpc.v1.cri".cni]',
      `  bin_dir = ${JSON.stringify(this.cniBinDir)}`,
      `  conf_dir = ${JSON.stringify(this.cniConfDir)}`,
      '  max_conf_num = 1',
      '[plugins."io.containerd.grpc.v1.cri".containerd]',
      '  default_runtime_name = "runc"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '  runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '  SystemdCgroup = false',
      `  Root = ${JSON.stringify(join(state, 'runc'))}`,
      '',
    ].join('\n'));
    liveSockets.add(this.containerdSocket);
    this.#spawn('containerd', '/usr/bin/containerd', ['--config', config, '--log-level', 'warn']);
    await this.#waitFor('containerd', async () => (await this.ctr(['version'])).code === 0, 60_000);
  }

  /** `ctr` against this node's containerd, in the CRI namespace. */
  ctr(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
    return run('/usr/bin/ctr', ['--address', this.containerdSocket, '--namespace', 'k8s.io', ...args], opts);
  }

  /** Copies an image from buildah's store into this node's containerd (as a docker archive). */
  async importImage(ref: string): Promise<void> {
    const archive = join(this.dir, `image-${ref.replace(/[^a-z0-9]+/gi, '-')}.tar`);
    try {
      await must('buildah', ['push', '--quiet', ref, `docker-archive:${archive}:${ref}`], { timeoutMs: 600_000 });
      await must('/usr/bin/ctr', ['--address', this.containerdSocket, '--namespace', 'k8s.io', 'images', 'import', '--no-unpack', archive], { timeoutMs: 600_000 });
    } finally {
      await rm(archive, { force: true });
    }
  }

  /** Tags an image inside containerd (a new tag for an upgrade, with no rebuild). */
  async tagImage(ref: string, newRef: string): Promise<void> {
    await must('/usr/bin/ctr', ['--address', this.containerdSocket, '--namespace', 'k8s.io', 'images', 'tag', '--force', ref, newRef]);
  }

  get pauseImage(): string {
    return `localhost/weft-node-pause:${this.name}`;
  }

  /** The sandbox image: tests/node/pause.c, static, FROM scratch, built with buildah and imported. */
  async #pauseImage(): Promise<void> {
    const bin = join(this.dir, 'pause');
    await must('gcc', ['-static', '-O2', '-o', bin, join(HERE, 'pause.c')]);
    const ctr = (await must('buildah', ['from', 'scratch'])).trim();
    try {
      await must('buildah', ['copy', ctr, bin, '/pause']);
      await must('buildah', ['config', '--entrypoint', '["/pause"]', '--user', '65535:65535', ctr]);
      await must('buildah', ['commit', '--quiet', ctr, this.pauseImage]);
    } finally {
      await run('buildah', ['rm', ctr]);
    }
    this.#undo.push([`buildah rmi ${this.pauseImage}`, () => run('buildah', ['rmi', this.pauseImage])]);
    await this.importImage(this.pauseImage);
  }

  async #cniConfig(): Promise<void> {
    await mkdir(this.cniConfDir, { recursive: true });
    await mkdir(this.cniBinDir, { recursive: true });
    for (const plugin of readdirSync('/usr/lib/cni')) await symlink(join('/usr/lib/cni', plugin), join(this.cniBinDir, plugin));
    const gateway = this.podCidr.replace(/\.0\/\d+$/, '.1');
    await writeFile(join(this.cniConfDir, '10-weft-node.conflist'), JSON.stringify({
      cniVersion: '1.0.0', name: this.cniNetwork,
      plugins: [
        { type: 'bridge', bridge: this.bridge, isGateway: true, ipMasq: true, hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: this.podCidr, gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(this.dir, 'cni-ipam') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }, null, 2));
  }

  async #kubelet(): Promise<void> {
    const kubelet = this.kube.bins.tools.kubelet!;
    const cert = await makeClientCert(this.kube.pki, 'kubelet-client', `/O=system:nodes/CN=system:node:${this.nodeName}`);
    const kubeconfig = await this.kube.certKubeconfig('kubelet', cert.cert, cert.key);
    const root = join(this.dir, 'kubelet');
    await mkdir(root, { recursive: true });
    const config = join(this.dir, 'kubelet.yaml');
    const port = await freePort();
    const healthzPort = await freePort();
    await writeFile(config, JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration',
      cgroupDriver: 'cgroupfs', failSwapOn: false,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: this.kube.pki.caCert } },
      authorization: { mode: 'Webhook' },
      address: this.nodeIp, port, readOnlyPort: 0, healthzBindAddress: '127.0.0.1', healthzPort,
      clusterDNS: [this.nodeIp], clusterDomain: 'cluster.local', resolvConf: '',
      // The images are imported, never pulled: nothing may collect them, and a busy shared disk
      // must not evict the test's pods.
      imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      // The kubelet leaves the node's iptables to kube-proxy and the CNI.
      makeIPTablesUtilChains: false,
      nodeStatusUpdateFrequency: '4s', syncFrequency: '10s', fileCheckFrequency: '10s',
      serializeImagePulls: false, maxPods: 40, containerLogMaxSize: '5Mi',
    }, null, 2));
    this.#logEntriesBefore = existsSync('/var/log/pods') ? new Set(readdirSync('/var/log/pods')) : new Set();
    this.#spawn('kubelet', kubelet, [
      `--config=${config}`, `--kubeconfig=${kubeconfig}`, `--root-dir=${root}`, `--cert-dir=${join(root, 'pki')}`,
      `--container-runtime-endpoint=unix://${this.containerdSocket}`, `--node-ip=${this.nodeIp}`, `--hostname-override=${this.nodeName}`,
      `--pod-infra-container-image=${this.pauseImage}`, '--v=1',
    ]);
    // Registered and Ready (the runtime and its network are up).
    await this.#waitFor('kubelet', async () => {
      const r = await this.kube.request('GET', `/api/v1/nodes/${this.nodeName}`);
      if (r.status !== 200) return false;
      const conds = ((r.body as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions ?? []);
      return conds.some((c) => c.type === 'Ready' && c.status === 'True');
    }, 180_000);
    // Without the node-lifecycle controller nobody lifts the not-ready taints the node began with.
    await this.kube.must('PATCH', `/api/v1/nodes/${this.nodeName}`, { spec: { taints: null } }, 'application/merge-patch+json');
  }

  #logEntriesBefore = new Set<string>();
  /** iptables chains and ip rules before the node started: whatever is new at stop is the node's (kube-proxy, the CNI, the agent). */
  #before: HostSnapshot | undefined;

  async #kubeProxy(): Promise<void> {
    const proxy = this.kube.bins.tools['kube-proxy']!;
    const cert = await makeClientCert(this.kube.pki, 'kube-proxy-client', '/CN=system:kube-proxy');
    const kubeconfig = await this.kube.certKubeconfig('kube-proxy', cert.cert, cert.key);
    const healthz = await freePort();
    const metrics = await freePort();
    this.#kubeProxyArgs = [`--kubeconfig=${kubeconfig}`];
    this.#spawn('kube-proxy', proxy, [
      `--kubeconfig=${kubeconfig}`, '--proxy-mode=iptables', `--hostname-override=${this.nodeName}`, `--cluster-cidr=${this.podCidr}`,
      `--healthz-bind-address=127.0.0.1:${healthz}`, `--metrics-bind-address=127.0.0.1:${metrics}`,
      // The machine's conntrack table is shared: kube-proxy must not resize it.
      '--conntrack-max-per-core=0', '--v=1',
    ]);
    // Synced when the `kubernetes` Service has its rule.
    const vip = firstServiceIp(this.kube.serviceCidr);
    await this.#waitFor('kube-proxy', async () => (await run('iptables', ['-w', '-t', 'nat', '-S', 'KUBE-SERVICES'])).stdout.includes(`${vip}/32`), 90_000);
  }

  #kubeProxyArgs: string[] = [];

  /**
   * Deletes the workload controllers (so nothing re-creates pods), then force-deletes the node's
   * pods until containerd holds no container (up to `ms`): the kubelet tears each sandbox down,
   * CNI DEL included.
   */
  async #drainPods(ms: number): Promise<void> {
    await this.kube.kubectl(['delete', 'daemonsets,deployments,replicasets,statefulsets,jobs', '--all', '--all-namespaces', '--wait=false']);
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const r = await this.kube.request('GET', `/api/v1/pods?fieldSelector=spec.nodeName%3D${this.nodeName}`).catch(() => undefined);
      const items = ((r?.body as { items?: Array<{ metadata: { name: string; namespace: string } }> } | undefined)?.items ?? []);
      await Promise.all(items.map((p) => this.kube.request('DELETE', `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`, { gracePeriodSeconds: 0 }).catch(() => undefined)));
      const ls = await this.ctr(['containers', 'ls', '-q']);
      if (items.length === 0 && (ls.code !== 0 || ls.stdout.trim() === '')) return;
      await sleep(2000);
    }
  }

  /**
   * The synchronous last resort (the process is ending): processes are already SIGKILLed; undo the
   * host changes — kube-proxy's chains, mounts, links, the route, the sysctls.
   */
  stopSync(): void {
    // Runs even when stop() is under way (the signal may come during the teardown), once.
    if (this.#stoppedSync) return;
    this.#stoppedSync = true;
    const sync = (cmd: string, args: string[]): void => { try { execFileSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }); } catch { /* best effort */ } };
    if (this.#kubeProxyArgs.length > 0) sync(this.kube.bins.tools['kube-proxy']!, ['--cleanup', ...this.#kubeProxyArgs]);
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m): m is string => m !== undefined && m.startsWith(`${this.dir}/`));
    for (const m of mounts.reverse()) sync('umount', ['-l', m]);
    killKubepods();
    for (const ns of this.#podNetnsSync()) { sync('umount', [join('/run/netns', ns)]); try { rmSync(join('/run/netns', ns), { force: true }); } catch { /* gone */ } }
    sync('ip', ['link', 'del', this.bridge]);
    if (this.#before !== undefined) for (const [cmd, args] of restorePlan(this.#before, hostSnapshotSync())) sync(cmd, args);
    for (const [, , syncUndo] of this.#undo.reverse()) syncUndo?.();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500); // the killed processes leave their cgroups
    for (const h of readdirSync('/sys/fs/cgroup')) removeCgroupTree(join('/sys/fs/cgroup', h, 'kubepods'));
    for (const e of existsSync('/var/log/pods') ? readdirSync('/var/log/pods') : []) if (!this.#logEntriesBefore.has(e)) try { rmSync(join('/var/log/pods', e), { recursive: true, force: true }); } catch { /* best effort */ }
    // The control plane's handler ran first and could not remove the folder while it had mounts.
    if (process.env.WEFT_KEEP_KUBE_DIR === undefined) try { rmSync(this.kube.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }

  /** Undoes everything start() did, in reverse; idempotent; never throws. Returns what it could not undo. */
  async stop(): Promise<string[]> {
    if (this.#stopped) return [];
    this.#stopped = true;
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try { await fn(); } catch (err) { problems.push(`${what}: ${(err as Error).message}`); }
    };
    const kubelet = this.#procs.get('kubelet');
    if (kubelet !== undefined && kubelet.exitCode === null) await step('drain pods', () => this.#drainPods(90_000));
    for (const label of ['kube-proxy', 'kubelet']) await step(`stop ${label}`, () => this.#kill(label));
    if (this.#kubeProxyArgs.length > 0) await step('kube-proxy --cleanup', () => run(this.kube.bins.tools['kube-proxy']!, ['--cleanup', ...this.#kubeProxyArgs]));
    // Whatever still runs in containerd (a pod the drain missed): stopped through its shim.
    await step('containers', async () => {
      const tasks = await this.ctr(['tasks', 'ls', '-q']);
      for (const id of tasks.stdout.split('\n').filter(Boolean)) await this.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
    });
    await step('stop containerd', () => this.#kill('containerd'));
    for (const pid of shimPids(this.containerdSocket)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    // A container whose shim is gone keeps running: every process in the pods' cgroups is ours.
    killKubepods();
    await sleep(500);
    if (this.#before !== undefined) await step('iptables chains and ip rules the node left', () => restoreHost(this.#before!));
    liveSockets.delete(this.containerdSocket);
    await step('unmount', () => this.#unmountUnder(this.dir));
    await step('network namespaces', () => this.#leftoverNetns());
    await step('CNI NAT rules', () => this.#cniNatCleanup());
    await step(`ip link del ${this.bridge}`, async () => { if ((await run('ip', ['link', 'show', this.bridge])).code === 0) await must('ip', ['link', 'del', this.bridge]); });
    this.#dns?.close();
    await step('api forwarder', () => new Promise<void>((ok) => (this.#forwarder ? this.#forwarder.close(() => ok()) : ok())));
    for (const [what, fn] of this.#undo.reverse()) await step(what, fn);
    await step('/var/log/pods', async () => {
      if (!existsSync('/var/log/pods')) return;
      for (const e of readdirSync('/var/log/pods')) if (!this.#logEntriesBefore.has(e)) await rm(join('/var/log/pods', e), { recursive: true, force: true });
      if (existsSync('/var/log/containers')) for (const e of readdirSync('/var/log/containers')) {
        const p = join('/var/log/containers', e);
        try { statSync(p); } catch { await rm(p, { force: true }); } // a link to a removed pod log
      }
    });
    await step('kubepods cgroups', async () => {
      for (const h of readdirSync('/sys/fs/cgroup')) removeCgroupTree(join('/sys/fs/cgroup', h, 'kubepods'));
    });
    liveNodes.delete(this);
    return problems;
  }

  async #kill(label: string): Promise<void> {
    const child = this.#procs.get(label);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }

  async #unmountUnder(dir: string): Promise<void> {
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
    for (const m of mounts.reverse()) await run('umount', ['-l', m.replace(/\\040/g, ' ')]);
  }

  /**
   * The sandbox namespaces containerd pinned (/run/netns/cni-<uuid>) that hold an address of this
   * node's pod range: ours, left when the sandbox was not torn down (containerd killed). Their veths
   * go with them.
   */
  #podNetnsSync(): string[] {
    if (!existsSync('/run/netns')) return [];
    const prefix = `inet ${this.podCidr.replace(/\.0\/\d+$/, '.')}`;
    return readdirSync('/run/netns').filter((ns) => ns.startsWith('cni-')).filter((ns) => {
      try {
        return execFileSync('ip', ['-n', ns, '-4', '-o', 'addr', 'show'], { encoding: 'utf8', timeout: 5000 }).includes(prefix);
      } catch {
        return false;
      }
    });
  }

  async #leftoverNetns(): Promise<void> {
    for (const ns of this.#podNetnsSync()) {
      await run('umount', [join('/run/netns', ns)]);
      await rm(join('/run/netns', ns), { force: true });
    }
  }

  /** The bridge plugin's ipMasq rules (POSTROUTING → CNI-<hash>, commented with our network's name) that a failed DEL left. */
  async #cniNatCleanup(): Promise<void> {
    for (;;) {
      const listing = (await run('iptables', ['-w', '-t', 'nat', '-L', 'POSTROUTING', '-n', '--line-numbers'])).stdout.split('\n');
      const ours = listing.find((l) => l.includes(`"${this.cniNetwork}"`));
      if (ours === undefined) return;
      const [num, target] = ours.trim().split(/\s+/);
      await must('iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', num!]);
      if (target !== undefined && target.startsWith('CNI-')) {
        await run('iptables', ['-w', '-t', 'nat', '-F', target]);
        await run('iptables', ['-w', '-t', 'nat', '-X', target]);
      }
    }
  }
}

/**
 * /run/netns as a shared mount point, as `ip netns add` makes it (and, like iproute2, never
 * undone): a pod-scope agent mounts it with HostToContainer propagation, which the runtime
 * refuses on a private mount ("is mounted on / but it is not a shared or slave mount") — this
 * machine's / is private, a systemd node's is shared.
 */
async function ensureSharedNetnsDir(): Promise<void> {
  const info = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/run/netns');
  if (info !== undefined && / shared:\d+/.test(info)) return;
  await mkdir('/run/netns', { recursive: true });
  if (info === undefined) await must('mount', ['--bind', '/run/netns', '/run/netns']);
  await must('mount', ['--make-shared', '/run/netns']);
}

/** Every process in the kubepods cgroups (a container whose shim died), SIGKILLed by pid. */
function killKubepods(): void {
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    try {
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    } catch { /* not a cgroup */ }
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
  };
  walk('/sys/fs/cgroup/pids/kubepods');
  walk('/sys/fs/cgroup/memory/kubepods');
}

/** rmdir a cgroup folder depth-first (a cgroup folder is removed with rmdir once it holds no process). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try { rmdirSync(dir); } catch { /* a process still in it, or a v1 controller that keeps it */ }
}
