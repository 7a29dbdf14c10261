// A testbed as a Kubernetes cluster served by the API server fixture: the testbed's own objects
// (tests/testbed/cluster-objects.ts) plus what a real cluster adds — the agents' DaemonSet pods
// (hostNetwork, ServiceAccount weft-system/weft-agent), EndpointSlices for every Service — and a
// projected ServiceAccount token per agent, registered with the fixture's TokenReview.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appLabel, clusterObjects, type ClusterSpec } from '../testbed/cluster-objects.ts';
import type { TestbedModel } from '../testbed/topology.ts';
import { ApiServerFixture, type KubeObject } from './api-server.ts';
import { endpointSlice, namespace, pod, type PodSpec } from './objects.ts';

export const AGENT_NAMESPACE = 'weft-system';
export const AGENT_ACCOUNT = 'weft-agent';
export const AUDIENCE = 'weft-control';

export function agentPodName(node: string): string {
  return `weft-agent-${node}`;
}

/** Every object of the testbed cluster, EndpointSlices and agent pods included. */
export function testbedClusterObjects(model: TestbedModel, spec: ClusterSpec): KubeObject[] {
  const objects = clusterObjects(model, spec) as KubeObject[];
  objects.push(namespace(AGENT_NAMESPACE, false));
  for (const n of model.nodes) {
    objects.push(pod({ name: agentPodName(n.name), namespace: AGENT_NAMESPACE, node: n.name, ip: n.ip, serviceAccount: AGENT_ACCOUNT, hostNetwork: true, uid: `uid-${agentPodName(n.name)}`, labels: { app: 'weft-agent' } }));
  }
  for (const s of spec.services ?? []) {
    const backends: PodSpec[] = [];
    for (const n of model.nodes) {
      for (const p of n.pods) {
        if (spec.absentPods?.includes(p.name) || p.namespace !== s.namespace || appLabel(p.name) !== s.selector) continue;
        backends.push({ name: p.name, namespace: p.namespace, node: n.name, ip: p.ip });
      }
    }
    objects.push(endpointSlice({ name: s.name, namespace: s.namespace, clusterIP: s.clusterIP, selector: { app: s.selector }, ports: [{ name: 'tcp', port: s.port, targetPort: s.targetPort }] }, backends));
  }
  return objects;
}

export interface TestbedCluster {
  fixture: ApiServerFixture;
  kubeconfig: string;
  /** node → the agent's projected token (the Mesh writes them as the agents' credential files). */
  tokens: Record<string, string>;
  /** Control settings that make it use the fixture for discovery and node attestation. */
  controlEnv: Record<string, string>;
  apply(spec: ClusterSpec): void;
  close(): Promise<void>;
}

export async function startTestbedCluster(model: TestbedModel, spec: ClusterSpec): Promise<TestbedCluster> {
  const fixture = await ApiServerFixture.start({ bookmarkIntervalMs: 2000 });
  const dir = await mkdtemp(join(tmpdir(), 'k8s-testbed-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, fixture.kubeconfig());
  fixture.apply(testbedClusterObjects(model, spec));
  const tokens: Record<string, string> = {};
  for (const n of model.nodes) {
    const token = `sa.${randomBytes(24).toString('base64url')}`;
    fixture.addToken(token, { namespace: AGENT_NAMESPACE, serviceAccount: AGENT_ACCOUNT, podName: agentPodName(n.name), podUid: `uid-${agentPodName(n.name)}`, audiences: [AUDIENCE], ttlSeconds: 3600 });
    tokens[n.name] = token;
  }
  return {
    fixture,
    kubeconfig,
    tokens,
    // An empty WEFT_LISTEN_ADDRESS reads as unset (the default 0.0.0.0:15012), which collides with
    // other tests' controls in the root namespace: a loopback ephemeral port is harmless.
    controlEnv: { WEFT_DISCOVERY: 'kubernetes', WEFT_KUBECONFIG: kubeconfig, WEFT_AUTHENTICATOR: 'token-review', WEFT_TOKEN_AUDIENCE: AUDIENCE, WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
    apply: (s) => fixture.apply(testbedClusterObjects(model, s)),
    async close() {
      await fixture.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
