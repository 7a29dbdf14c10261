// Whether redirection is in place, told the same way everywhere: /ready's reason (agent/app.ts),
// /config_dump/redirect's `status`, and `weft check`'s redirection row (agent/cli/check.ts) all
// come from these two functions, so they cannot say "OK" and "not installed" at once.

/** Pod scope: captured pods, and the model's local meshed pods whose namespace is not found yet. */
export interface PodCounts {
  captured: number;
  missing: number;
}

export type RedirectStatus =
  /** WEFT_REDIRECT_MODE=none: nothing is captured (tests). */
  | { state: 'none' }
  /** Not reconciled yet: the first reconcile runs when control's first config snapshot arrives. */
  | { state: 'pending' }
  /** Installed; in pod scope, `pods` counts the pods captured (each in its own namespace). */
  | { state: 'installed'; pods?: PodCounts }
  /** The last reconcile failed; retried on the next change. */
  | { state: 'failed'; error: string };

/** The /ready reason redirection gives, or null when it does not hold readiness back. */
export function redirectNotReady(s: RedirectStatus): string | null {
  switch (s.state) {
    case 'none':
    case 'installed':
      return null;
    case 'pending':
      return 'redirection not installed yet (it is installed once control\'s first config snapshot arrives)';
    case 'failed':
      return `redirection not installed: ${s.error}`;
  }
}

export interface RedirectCheck {
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

/** `weft check`'s verdict on redirection, from /config_dump/redirect (`status` absent: an older agent). */
export function redirectCheck(mode: string, s: RedirectStatus | undefined): RedirectCheck {
  if (mode === 'none') return { status: 'warn', detail: 'redirect mode is none: pod traffic is not captured (test setups only)' };
  if (s === undefined) return { status: 'warn', detail: `${mode}: this agent does not report whether its rules are installed (an older agent); see /config_dump/redirect` };
  const why = redirectNotReady(s);
  if (why !== null) return { status: 'fail', detail: `${mode}: ${why}` };
  if (s.state === 'installed' && s.pods !== undefined) {
    const detail = `${mode} in-pod: ${s.pods.captured} pod${s.pods.captured === 1 ? '' : 's'} captured`;
    // A meshed pod the model places here but whose namespace the agent cannot find is not captured.
    if (s.pods.missing > 0) return { status: 'warn', detail: `${detail}; ${s.pods.missing} meshed pod${s.pods.missing === 1 ? '' : 's'} of this node not found (see /config_dump/redirect)` };
    return { status: 'ok', detail };
  }
  return { status: 'ok', detail: `${mode} installed` };
}
