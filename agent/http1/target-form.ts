// Which of the four request-target forms of RFC 9112 §3.2 a target is, given its method; null
// when the method does not allow that form. The bytes were already checked to be visible ASCII.
// Absolute-form is recognised here but turned into origin-form by the one target stage every path
// calls (agent/http/request-target.ts originForm, then path normalisation), not here.
import { isAuthority } from './authority.ts';

export type TargetForm = 'origin' | 'absolute' | 'authority' | 'asterisk';

const ABSOLUTE_PREFIX = /^https?:\/\//i;

export function targetForm(method: string, target: string): TargetForm | null {
  // §3.2.3: CONNECT takes authority-form and nothing else.
  if (method === 'CONNECT') return isAuthority(target, true) ? 'authority' : null;
  const c = target.charCodeAt(0);
  if (c === 0x2f) return 'origin';
  // §3.2.4: "*" only for a server-wide OPTIONS.
  if (target === '*') return method === 'OPTIONS' ? 'asterisk' : null;
  // §3.2.2: absolute-form. Only http(s): a proxy is never asked for another scheme here.
  return ABSOLUTE_PREFIX.test(target) ? 'absolute' : null;
}
