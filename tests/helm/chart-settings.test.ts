// The chart and the processes must agree on every setting: a WEFT_* variable the chart sets that
// agent or control does not know would be silently ignored in a user's cluster.
import t from 'tap';
import { agentSettings } from '../../agent/config.ts';
import { controlSettings } from '../../control/config.ts';
import { render, type K8sObject } from './chart.ts';
import { ALL_OPTIONS } from './values-fixtures.ts';

interface Container { name: string; env?: Array<{ name: string }>; envFrom?: Array<{ configMapRef?: { name: string } }> }

function podContainers(o: K8sObject): Container[] {
  const spec = o.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers ?? [];
}

const known = {
  agent: new Set(Object.values(agentSettings).map((s) => s.env)),
  control: new Set(Object.values(controlSettings).map((s) => s.env)),
};

for (const [label, values] of [['defaults', undefined], ['every option', ALL_OPTIONS]] as const) {
  t.test(`every WEFT_* setting the chart sets is known to its process (${label})`, async (t) => {
    const objs = render(values);
    const configMaps = new Map(objs.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, Object.keys((o as unknown as { data?: Record<string, string> }).data ?? {})]));
    let checked = 0;
    for (const [kind, name, process] of [['DaemonSet', 'weft-agent', 'agent'], ['Deployment', 'weft-control', 'control']] as const) {
      const workload = objs.find((o) => o.kind === kind && o.metadata.name === name);
      if (workload === undefined) continue;
      for (const c of podContainers(workload)) {
        const names = [...(c.env ?? []).map((e) => e.name), ...(c.envFrom ?? []).flatMap((e) => configMaps.get(e.configMapRef?.name ?? '') ?? [])];
        for (const n of names.filter((x) => x.startsWith('WEFT_'))) {
          checked++;
          t.ok(known[process].has(n), `${process} knows ${n}`);
        }
      }
    }
    t.ok(checked > 10, `checked ${checked} settings`);
  });
}
