// node-tap glue: a testbed whose teardown is tied to the test, so it goes away even when the
// test body throws or times out.
import { Testbed } from './testbed.ts';
import type { TestbedSpec } from './topology.ts';

/** The part of a tap Test this helper needs (keeps the harness usable from other runners). */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

export async function withTestbed(t: TeardownHost, spec: TestbedSpec): Promise<Testbed> {
  const tb = await Testbed.create(spec);
  t.teardown(() => tb.teardown());
  return tb;
}
