// kube-policy.test.ts in eBPF redirect mode: the same test body, agents started with
// WEFT_REDIRECT_MODE=ebpf (tests/ebpf/mode.ts holds what differs between the modes).
process.env.WEFT_TEST_REDIRECT_MODE = 'ebpf';
await import('./kube-policy.test.ts');
