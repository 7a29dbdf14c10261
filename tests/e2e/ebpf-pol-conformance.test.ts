// pol-conformance.test.ts in eBPF redirect mode: the same table, agents started with
// WEFT_REDIRECT_MODE=ebpf (tests/ebpf/mode.ts holds what differs between the modes).
process.env.WEFT_TEST_REDIRECT_MODE = 'ebpf';
await import('./pol-conformance.test.ts');
