// helm lint is clean, and bad values are refused by helm itself (values.schema.json, or the
// chart's cross-field checks) with a message that names the offending field. helm lint fails on
// schema errors; a template's `fail` is only reported by lint (Helm runs templates in lint mode
// and logs it), so for the cross-field checks the test asserts lint prints the message.
import t from 'tap';
import { CHART, helm, template } from './chart.ts';
import { ALL_OPTIONS } from './values-fixtures.ts';

t.test('helm lint --strict is clean with default values and with every option', async (t) => {
  for (const [what, values] of [['defaults', undefined], ['all options', ALL_OPTIONS]] as const) {
    const r = helm(['lint', '--strict', CHART], values);
    t.equal(r.code, 0, `${what}: lint passes${r.code === 0 ? '' : `\n${r.stdout}${r.stderr}`}`);
    t.notMatch(r.stdout, /\[(WARNING|ERROR|INFO)\]/, `${what}: no findings at all`);
  }
});

// [what, values, text the error must contain]
const bad: Array<[string, unknown, string]> = [
  ['an unknown redirect mode', { agent: { redirectMode: 'nftables' } }, "at '/agent/redirectMode': value must be one of 'iptables', 'ebpf'"],
  ['zero control replicas', { control: { replicas: 0 } }, "at '/control/replicas': minimum"],
  ['a negative drain', { agent: { drainMs: -1 } }, "at '/agent/drainMs': minimum"],
  ['a drain in words', { agent: { drainMs: '5s' } }, "at '/agent/drainMs'"],
  ['a typo in a key', { agent: { drainMS: 1000 } }, "at '/agent': additional properties 'drainMS' not allowed"],
  ['an unknown top-level key', { trustdomain: 'x' }, "additional properties 'trustdomain' not allowed"],
  ['an invalid trust domain', { trustDomain: 'Cluster Local' }, "at '/trustDomain'"],
  ['a CA key without its certificate', { trustAnchor: { keyPem: '-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n' } }, "at '/trustAnchor"],
  ['a certificate that is not PEM', { trustAnchor: { certPem: 'MIIB...' } }, "at '/trustAnchor/certPem'"],
  ['a CPU request in words', { control: { resources: { requests: { cpu: 'lots' } } } }, "at '/control/resources/requests/cpu'"],
  ['an OTLP endpoint without scheme', { telemetry: { otlp: { endpoint: 'collector:4318' } } }, "at '/telemetry/otlp/endpoint'"],
  ['a sample ratio above 1', { telemetry: { otlp: { tracesSampleRatio: 2 } } }, "at '/telemetry/otlp/tracesSampleRatio': maximum"],
  ['zero maxUnavailable', { agent: { maxUnavailable: 0 } }, "at '/agent/maxUnavailable'"],
  ['an unknown pull policy', { image: { pullPolicy: 'Sometimes' } }, "at '/image/pullPolicy'"],
  ['an unknown anti-affinity', { control: { antiAffinity: 'strict' } }, "at '/control/antiAffinity'"],
  ['a bad scrape interval', { telemetry: { serviceMonitor: { interval: 'often' } } }, "at '/telemetry/serviceMonitor/interval'"],
  // Cross-field checks in templates/_helpers.tpl (weft.validate).
  ['a max certificate TTL below the default', { control: { certTtlSeconds: 7200, certMaxTtlSeconds: 3600 } }, 'control.certMaxTtlSeconds (3600) must be at least control.certTtlSeconds (7200)'],
  ['an agent TTL control would refuse', { agent: { certTtlSeconds: 700000 } }, 'agent.certTtlSeconds (700000) exceeds control.certMaxTtlSeconds'],
  ['an admin port taken by HBONE', { agent: { adminPort: 15008 } }, 'agent.adminPort (15008) collides with a proxy port'],
  ['a metrics port on the admin port', { agent: { metricsPort: 15020 } }, 'agent.metricsPort (15020) collides with a proxy port (15001, 15006, 15008) or agent.adminPort (15020)'],
  ['an unknown query mode', { telemetry: { queryValues: 'some' } }, "at '/telemetry/queryValues'"],
  ['a PDB that blocks every drain', { control: { replicas: 1 } }, 'control.podDisruptionBudget.minAvailable (1) must be below control.replicas (1)'],
];

for (const [what, values, expected] of bad) {
  t.test(`refuses ${what}`, async (t) => {
    const r = template(values);
    t.not(r.code, 0, 'helm template fails');
    t.ok(r.stderr.includes(expected), `naming the field: ${expected}\n  got: ${r.stderr.trim()}`);
    const l = helm(['lint', CHART], values);
    if (expected.startsWith('at ') || expected.startsWith('additional')) t.not(l.code, 0, 'helm lint fails too');
    else t.ok((l.stdout + l.stderr).includes(expected), 'helm lint reports it too');
  });
}
