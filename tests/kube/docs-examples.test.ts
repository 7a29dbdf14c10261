// The DENY policy and HTTPRoute that docs/install.md tells a user to apply are the ones the sandbox
// prints and the real-API-server e2e and sandbox tests apply (scripts/sandbox-kube-examples.ts):
// the documentation shows what is tested, byte for byte.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SANDBOX_DENY_POLICY, SANDBOX_HTTPROUTE } from '../../scripts/sandbox-kube-examples.ts';

const install = readFileSync(fileURLToPath(new URL('../../docs/install.md', import.meta.url)), 'utf8');
const yamlBlocks = [...install.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);

t.ok(yamlBlocks.includes(SANDBOX_DENY_POLICY), 'docs/install.md shows the tested DENY AuthorizationPolicy');
t.ok(yamlBlocks.includes(SANDBOX_HTTPROUTE), 'docs/install.md shows the tested HTTPRoute');
t.match(install, /kubectl apply -f deny-client\.yaml/, 'and the kubectl command that applies the policy');
t.match(install, /kubectl delete -f deny-client\.yaml/, 'and the one that lifts it');
t.match(install, /kubectl apply -f web-route\.yaml/, 'and the one that applies the route');
