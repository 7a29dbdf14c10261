// The testbed's door: build namespaces, run things inside them, tear everything down.
export { Testbed, type SpawnOptions } from './testbed.ts';
export { withTestbed, type TeardownHost } from './with-testbed.ts';
export { planTopology, ownsNetns, netnsPrefix, POD_GATEWAY, CNI_BRIDGE, CLUSTER_CIDR, CNI_SHAPES, type CniShape, type TestbedSpec, type NodeSpec, type PodSpec, type TestbedModel, type TestbedNode, type TestbedPod } from './topology.ts';
export { run, runOk, type ExecResult, type RunOptions } from './run.ts';
export { startProbeServer, probeConnect, type ProbeServer, type ProbeAccept, type ProbeResult, type ProbeServerOptions } from './probe-client.ts';
