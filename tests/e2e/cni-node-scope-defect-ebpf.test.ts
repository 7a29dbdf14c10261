// cni-node-scope-defect.test.ts in eBPF redirect mode (node-level tc/sk_lookup capture on a
// bridge CNI with kube-proxy): the same test body, what differs is in that file.
process.env.WEFT_TEST_REDIRECT_MODE = 'ebpf';
await import('./cni-node-scope-defect.test.ts');
