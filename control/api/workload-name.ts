// How a pod is named as a workload, in one place for both sides: the agents label their series
// with it and the dashboard groups pods by it, and the two must agree or a pod's edges would not
// meet its row.
import type { WorkloadRecord } from './model.ts';

/**
 * A pod's workload name: the recommended app label, then `app`, then the pod name (a bare pod is
 * its own workload). Pods of one Deployment share it, so series do not churn with rollouts.
 */
export function workloadName(w: Pick<WorkloadRecord, 'name' | 'labels'>): string {
  return w.labels['app.kubernetes.io/name'] ?? w.labels.app ?? w.name;
}
