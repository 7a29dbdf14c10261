// The data plane end to end on the testbed: meshed pods talk across nodes through HBONE and on
// the same node without TLS, byte-exact, with half-close and resets carried; passthrough and
// permissive inbound keep unmeshed traffic working; the wire between nodes carries only TLS 1.3.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { parsePcap, selectsTls13, tlsRecordTypes } from '../common/pcap.ts';
import { patternBytes } from '../apps/tcp-modes.ts';
import { HttpsCertificateSigner, generateCsr } from '../../agent/identity/index.ts';
import { proxyStats, tcpClient } from './helpers.ts';
import { testbedName, testRedirectMode } from '../ebpf/mode.ts';

const MiB = 1024 * 1024;

// One mesh for the whole file: each subtest below is one behaviour.
const tb = await withTestbed(t, {
  name: testbedName('e2e-tcp'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'local', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }, { name: 'legacy-server', namespace: 'legacy' }] },
  ],
});
const mesh = await Mesh.start(tb, {
  redirectMode: testRedirectMode(),
  cluster: {
    meshedNamespaces: ['demo'],
    services: [{ name: 'server', namespace: 'demo', clusterIP: '10.96.0.10', port: 80, targetPort: 8080, selector: 'server' }],
  },
});
t.teardown(() => mesh.stop());
const server = tb.pod('server').ip;
const local = tb.pod('local').ip;
const serverApp = await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080', '--log']);
await mesh.startApp('local', 'tcp-server.ts', ['--port', '8080']);
await mesh.startApp('legacy-server', 'tcp-server.ts', ['--port', '8080']);

// First, so the capture sees the pooled session's handshake from its start.
t.test('node-to-node traffic is TLS 1.3 and never the payload', async (t) => {
  const pcap = join(mesh.dir, 'n1.pcap');
  const dump = tb.spawn(tb.node('n1').netns, 'tcpdump', ['-i', 'eth0', '-U', '-s', '0', '-w', pcap, 'tcp']);
  let err = '';
  dump.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await mesh.waitUntil(() => err.includes('listening on'), 10_000, 'tcpdump to start');
  const seed = 4242;
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', String(MiB), '--seed', String(seed)]);
  t.ok(r.ok);
  dump.kill('SIGINT');
  await new Promise((res) => dump.once('close', res));
  const flows = parsePcap(await readFile(pcap));
  const hbone = flows.filter((f) => f.dport === 15008 || f.sport === 15008);
  t.ok(hbone.length >= 2, 'the transfer crossed on the HBONE port');
  const total = flows.reduce((n, f) => n + f.payload.length, 0);
  // At least the bulk of it: a capture can drop packets under load, but it must have seen the data.
  t.ok(total >= MiB, `the capture holds the exchange (${total} bytes)`);
  for (const f of flows) {
    t.notOk(f.payload.includes(patternBytes(seed, 0, 32)), `no plaintext payload in ${f.src}:${f.sport} → ${f.dst}:${f.dport}`);
    t.notOk(f.payload.includes(patternBytes(seed, 300_000, 32)), 'nor from the middle of it');
  }
  const toServer = hbone.filter((f) => f.dport === 15008);
  const fromServer = hbone.filter((f) => f.sport === 15008);
  t.ok(toServer.every((f) => f.payload.length === 0 || f.payload[0] === 0x16), 'every client flow starts with a TLS handshake record');
  t.ok(fromServer.some((f) => selectsTls13(f.payload)), 'the server selected TLS 1.3');
  t.ok(fromServer.every((f) => f.payload.length === 0 || tlsRecordTypes(f.payload).length > 0), 'only TLS records');
});

t.test('cross-node transfers are byte-exact from 1 B to 64 MiB', async (t) => {
  for (const bytes of [1, 64 * 1024, MiB]) {
    const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', String(bytes)]);
    t.ok(r.ok, `echo ${bytes} B`);
    t.equal(r.bytesReceived, bytes);
  }
  const up = await tcpClient(mesh, 'client', server, 8080, 'sink', ['--bytes', String(64 * MiB)]);
  t.ok(up.ok, '64 MiB upload: the server hashed exactly what was sent');
  const down = await tcpClient(mesh, 'client', server, 8080, 'source', ['--bytes', String(64 * MiB), '--seed', '7']);
  t.ok(down.ok, '64 MiB download hashes right');
  t.equal(down.bytesReceived, 64 * MiB);
  const s = await proxyStats(mesh, 'n1');
  t.ok(s.paths.outbound_hbone.opened >= 5, 'the connections went through HBONE');
});

t.test('same-node transfers skip TLS and stay byte-exact', async (t) => {
  const before = (await proxyStats(mesh, 'n1')).paths.outbound_local.opened;
  for (const bytes of [1, 64 * 1024, MiB]) {
    const r = await tcpClient(mesh, 'client', local, 8080, 'echo', ['--bytes', String(bytes)]);
    t.ok(r.ok, `echo ${bytes} B`);
  }
  const up = await tcpClient(mesh, 'client', local, 8080, 'sink', ['--bytes', String(64 * MiB)]);
  t.ok(up.ok, '64 MiB upload');
  const after = (await proxyStats(mesh, 'n1')).paths.outbound_local.opened;
  t.equal(after - before, 4, 'each went the local path');
});

t.test('100 concurrent connections', async (t) => {
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', String(64 * 1024), '--connections', '100']);
  t.ok(r.ok, `all 100 echoed exactly (errors: ${r.errors.join(',')})`);
  t.equal(r.connections, 100);
  t.equal(r.bytesReceived, 100 * 64 * 1024);
});

t.test('half-close: the server answers after the client finished sending', async (t) => {
  // SINK replies only once it sees the client's FIN; the reply must still reach the client.
  for (const host of [server, local]) {
    const r = await tcpClient(mesh, 'client', host, 8080, 'sink', ['--bytes', '100000']);
    t.ok(r.ok, `half-close through ${host === server ? 'HBONE' : 'the local path'}`);
  }
});

t.test('a reset by the server reaches the client', async (t) => {
  const r = await tcpClient(mesh, 'client', server, 8080, 'reset');
  t.ok(r.ok, `client saw ECONNRESET (errors: ${r.errors.join(',')})`);
});

t.test('a reset by the client reaches the server', async (t) => {
  const script = `const s=require('net').connect(8080,'${server}',()=>{s.write('HOLD\\n');setTimeout(()=>s.resetAndDestroy(),300)});s.on('error',()=>{})`;
  const n = serverApp.lines.length;
  const r = await tb.exec(tb.pod('client').netns, process.execPath, ['-e', script]);
  t.equal(r.code, 0);
  const line = await serverApp.waitForLine((l) => serverApp.lines.indexOf(l) >= n && l.mode === 'HOLD', 10_000);
  t.equal(line.error, 'ECONNRESET', 'the server app saw a reset, not a clean close');
});

t.test('the server side sees the client SPIFFE identity', async (t) => {
  const s = await proxyStats(mesh, 'n2');
  const hbone = s.recent.filter((r) => r.path === 'inbound_hbone');
  t.ok(hbone.length > 0);
  t.ok(hbone.every((r) => r.sourceIdentity === 'spiffe://cluster.local/ns/demo/sa/client'), 'peer identity verified from its certificate');
  t.ok(hbone.every((r) => r.destinationWorkload === 'demo/server'));
});

t.test('a Service VIP reaches its endpoint', async (t) => {
  const r = await tcpClient(mesh, 'client', '10.96.0.10', 80, 'echo', ['--bytes', '4096']);
  t.ok(r.ok);
});

t.test('unmeshed destinations pass through; plaintext into the mesh is delivered (permissive)', async (t) => {
  const before1 = (await proxyStats(mesh, 'n1')).paths.outbound_passthrough.opened;
  const out = await tcpClient(mesh, 'client', tb.pod('legacy-server').ip, 8080, 'echo', ['--bytes', '4096']);
  t.ok(out.ok, 'meshed → unmeshed works');
  t.equal((await proxyStats(mesh, 'n1')).paths.outbound_passthrough.opened - before1, 1, 'through the passthrough path');
  const before2 = (await proxyStats(mesh, 'n2')).paths.inbound_plaintext.opened;
  const inb = await tcpClient(mesh, 'legacy', server, 8080, 'echo', ['--bytes', '4096']);
  t.ok(inb.ok, 'unmeshed → meshed works');
  t.equal((await proxyStats(mesh, 'n2')).paths.inbound_plaintext.opened - before2, 1, 'captured on the plaintext inbound port');
});

t.test('an agent cannot get a certificate for a pod on another node', async (t) => {
  const signer = new HttpsCertificateSigner({
    socketPath: mesh.controlSocket,
    servername: 'weft-control.weft-system.svc',
    caPem: await mesh.caPem(),
    token: () => mesh.tokens.get('n1') ?? '',
  });
  t.teardown(() => signer.close());
  const own = await generateCsr('spiffe://cluster.local/ns/demo/sa/client');
  const ok = await signer.sign(own.csrPem);
  t.ok(ok.certChain.length >= 1, 'n1 may sign the identity of a pod on n1');
  const foreign = await generateCsr('spiffe://cluster.local/ns/demo/sa/server');
  await t.rejects(signer.sign(foreign.csrPem), { code: 'WEFT_ERR_CSR_FORBIDDEN', message: /node n1 may not get certificates for spiffe:\/\/cluster\.local\/ns\/demo\/sa\/server/ });
  const stranger = new HttpsCertificateSigner({ socketPath: mesh.controlSocket, servername: 'weft-control.weft-system.svc', caPem: await mesh.caPem(), token: () => 'not-a-valid-bootstrap-token' });
  t.teardown(() => stranger.close());
  await t.rejects(stranger.sign(own.csrPem), { code: /WEFT_ERR_(CSR|STREAM)_UNAUTHENTICATED/ });
});
