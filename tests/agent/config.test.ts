import t from 'tap';
import { loadAgentConfig, proxyLayout, workerHeapLimits } from '../../agent/config.ts';
import { loadControlConfig } from '../../control/config.ts';

const env = (vars: Record<string, string>) => (k: string): string | undefined => vars[k];

t.test('agent config: defaults, overrides, frozen', async (t) => {
  const cfg = loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_HBONE_PORT: '16008' }));
  t.equal(cfg.nodeName, 'n1');
  t.equal(cfg.hbonePort, 16008);
  t.equal(cfg.outboundPort, 15001);
  t.equal(cfg.redirectMode, 'iptables');
  t.ok(Object.isFrozen(cfg));
});

t.test('agent config: the HTTP/2 engine between agents', async (t) => {
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1' })).l7H2Engine, 'weft', 'the codec by default');
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_L7_H2_ENGINE: 'node' })).l7H2Engine, 'node', 'node:http2 on request');
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_L7_H2_ENGINE: 'nghttp2' })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_L7_H2_ENGINE/ });
});

t.test('agent config: what serves the apps\' HTTP/1', async (t) => {
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1' })).l7H1Engine, 'weft', 'the codec by default');
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_L7_H1_ENGINE: 'node' })).l7H1Engine, 'node', 'node:http on request');
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_L7_H1_ENGINE: 'llhttp' })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_L7_H1_ENGINE/ });
});

t.test('agent config: the held-bytes budget per workload', async (t) => {
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1' })).maxHeldBytesPerWorkload, 64 << 20, 'default 64 MiB');
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_MAX_HELD_BYTES_PER_WORKLOAD: '0' })).maxHeldBytesPerWorkload, 0, '0: no limit');
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_MAX_HELD_BYTES_PER_WORKLOAD: String(8 << 20) })).maxHeldBytesPerWorkload, 8 << 20);
  for (const bad of ['1000', '-1', '1.5', '64MiB', String(2 ** 41)]) {
    t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_MAX_HELD_BYTES_PER_WORKLOAD: bad })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_MAX_HELD_BYTES_PER_WORKLOAD/ }, `${bad} refused`);
  }
});

t.test('agent config: every bad value is reported at once with a stable code', async (t) => {
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_HBONE_PORT: '99999', WEFT_REDIRECT_MODE: 'magic', WEFT_WORKERS: 'two' })), {
    code: 'WEFT_ERR_CONFIG_INVALID',
    message: /WEFT_REDIRECT_MODE[\s\S]*WEFT_HBONE_PORT[\s\S]*WEFT_WORKERS/,
  });
  t.throws(() => loadAgentConfig(env({})), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_NODE_NAME: required/ });
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_OUTBOUND_PORT: '15008' })), { message: /ports must differ/ });
});

t.test('control config: required settings per mode', async (t) => {
  t.throws(() => loadControlConfig(env({})), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_SOURCE_PATH[\s\S]*WEFT_BOOTSTRAP_TOKENS_FILE/ });
  const cfg = loadControlConfig(env({ WEFT_SOURCE_PATH: '/x.yaml', WEFT_BOOTSTRAP_TOKENS_FILE: '/t', WEFT_LISTEN_ADDRESS: '127.0.0.1:0' }));
  t.equal(cfg.trustDomain, 'cluster.local');
  t.throws(() => loadControlConfig(env({ WEFT_SOURCE_PATH: '/x', WEFT_BOOTSTRAP_TOKENS_FILE: '/t', WEFT_LISTEN_ADDRESS: 'nope' })), { message: /expected host:port/ });
});

t.test('an explicitly empty string setting is a value, not "unset"', async (t) => {
  const cfg = loadControlConfig(env({ WEFT_SOURCE_PATH: '/x', WEFT_BOOTSTRAP_TOKENS_FILE: '/t', WEFT_LISTEN_ADDRESS: '', WEFT_LISTEN_SOCKET: '/run/c.sock' }));
  t.equal(cfg.listenAddress, '', 'TCP listener disabled');
  t.throws(() => loadControlConfig(env({ WEFT_SOURCE_PATH: '/x', WEFT_BOOTSTRAP_TOKENS_FILE: '/t', WEFT_LISTEN_ADDRESS: '' })), { message: /at least one listener/ });
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_HBONE_PORT: '' })).hbonePort, 15008, 'an empty number is unset');
});

t.test('agent config: proxy worker heap limits and stack frames', async (t) => {
  const d = loadAgentConfig(env({ WEFT_NODE_NAME: 'n1' }));
  t.same(workerHeapLimits(d), { maxYoungGenerationSizeMb: 16 }, 'young generation capped, old generation V8\'s');
  t.equal(d.workerStackTraceLimit, 0);
  t.equal(d.httpPeerSessions, 1);
  t.same(workerHeapLimits(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_WORKER_YOUNG_GEN_MB: '0', WEFT_WORKER_OLD_GEN_MB: '256' }))), { maxOldGenerationSizeMb: 256 }, '0 leaves V8\'s default');
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_HTTP_PEER_SESSIONS: '0' })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_HTTP_PEER_SESSIONS/ });
  t.equal(d.heapGrowingPercent, 50, 'heaps grow 50 % past their live size by default');
  t.equal(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_HEAP_GROWING_PERCENT: '0' })).heapGrowingPercent, 0, '0 leaves it to V8');
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', WEFT_HEAP_GROWING_PERCENT: '-1' })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_HEAP_GROWING_PERCENT/ });
});

t.test('agent config: where the proxy runs (WEFT_PROXY_INLINE × WEFT_WORKERS × cores)', async (t) => {
  const rows: Array<[string, Record<string, string>, number, { inline: boolean; count: number }]> = [
    ['default on one core: inline', {}, 1, { inline: true, count: 1 }],
    ['default on two cores: inline (measured cheaper than two workers there)', {}, 2, { inline: true, count: 1 }],
    ['default on four cores: a worker per core', {}, 4, { inline: false, count: 4 }],
    ['WEFT_WORKERS=1 anywhere: inline', { WEFT_WORKERS: '1' }, 8, { inline: true, count: 1 }],
    ['an explicit WEFT_WORKERS=2 on two cores: two workers', { WEFT_WORKERS: '2' }, 2, { inline: false, count: 2 }],
    ['never: a worker even for one proxy', { WEFT_WORKERS: '1', WEFT_PROXY_INLINE: 'never' }, 1, { inline: false, count: 1 }],
    ['never on two cores: a worker per core', { WEFT_PROXY_INLINE: 'never' }, 2, { inline: false, count: 2 }],
    ['always: one inline proxy whatever the worker count', { WEFT_WORKERS: '4', WEFT_PROXY_INLINE: 'always' }, 4, { inline: true, count: 1 }],
  ];
  for (const [name, vars, cores, want] of rows) t.same(proxyLayout(loadAgentConfig(env({ WEFT_NODE_NAME: 'n1', ...vars })), cores), want, name);
});
