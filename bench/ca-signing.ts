// Measures how many CSRs the LocalCa signs per second on one core: N CSRs are prepared first
// (key generation is the agent's cost, not control's), then signed one after another, so the
// figure is validation + signing only. Prints one JSON line and saves it as
// bench/results/ca-signing-<date>.json (the suite's targets table reads the newest). Not a test.
//   node bench/ca-signing.ts [N]
import { generateTrustAnchor, makeTrustBundle } from '../control/ca/trust-anchor.ts';
import { LocalCa } from '../control/ca/issuer.ts';
import { generateCsr } from '../agent/identity/csr.ts';
import { saveSideResult } from './lib/side-results.ts';

const n = Number(process.argv[2] ?? 2000);
if (!Number.isInteger(n) || n <= 0) throw new Error(`N must be a positive integer, got ${process.argv[2]}`);

const { anchor } = await generateTrustAnchor();
const ca = new LocalCa({ bundle: makeTrustBundle(anchor) });
const ids = Array.from({ length: 50 }, (_, i) => `spiffe://cluster.local/ns/bench/sa/sa-${i}`);
const csrs: string[] = [];
for (let i = 0; i < n; i++) csrs.push((await generateCsr(ids[i % ids.length])).csrPem);
const allowed = new Set(ids);

// Warm up the JIT and the x509 schema caches so the figure is the steady state.
for (let i = 0; i < Math.min(100, n); i++) await ca.sign(csrs[i], { allowedIdentities: allowed });

const start = process.hrtime.bigint();
for (const csr of csrs) await ca.sign(csr, { allowedIdentities: allowed });
const seconds = Number(process.hrtime.bigint() - start) / 1e9;

const result = { signingsPerSecond: Math.round(n / seconds), n, seconds: Number(seconds.toFixed(3)), node: process.version };
console.log(JSON.stringify(result));
await saveSideResult('ca-signing', result);
