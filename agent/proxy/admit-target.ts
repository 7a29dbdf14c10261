// The request head's one target stage, before routing and policy on every entry of the outbound
// path (HTTP/1, HTTP/2 prior knowledge, upgrades): the target made origin-form and its path
// normalised (common/path-normalize.ts), written back so that what is routed, authorized and
// forwarded is one path. A decision with one side effect (the rewrite), table-tested.
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCodes } from '../../common/errors.ts';
import { normalizePath, type PathNormalization } from '../../common/path-normalize.ts';
import { isOriginForm, originForm } from '../http/request-target.ts';
import type { AppProtocol } from '../http/upstream.ts';

/** A head as both HTTP engines have it; `url` and the authority field are rewritten in place. */
export interface TargetHead {
  url?: string;
  method?: string;
  headers: IncomingHttpHeaders;
}

/** Why a target was refused: the weft-error code (400) and the reason it is counted under. */
export interface TargetRefusal {
  code: string;
  reason: string;
}

/** Null when admitted (the head rewritten to origin-form and the normalised path); else the refusal. */
export function admitTarget(req: TargetHead, proto: AppProtocol, mode: PathNormalization): TargetRefusal | null {
  const url = req.url ?? '/';
  // CONNECT's target is an authority ("host:port"): nothing to normalise.
  if (req.method === 'CONNECT') return null;
  let path = url;
  // Origin-form is the common case and costs one character test (the HTTP/1 parsers already
  // refused spaces and controls in a target; an h2 :path is only a header value, so it is checked whole).
  if (url.charCodeAt(0) !== 0x2f || (proto === 'h2' && !isOriginForm(url))) {
    const t = originForm(url);
    if (t === null) return { code: ErrorCodes.HTTP_MALFORMED, reason: 'http_target' };
    path = t.path;
    if (t.authority !== undefined) {
      if (proto === 'h2') req.headers[':authority'] = t.authority;
      else req.headers.host = t.authority;
    }
  }
  const n = normalizePath(path, mode);
  if (typeof n !== 'string') return { code: ErrorCodes.HTTP_PATH, reason: `http_path_${n.refused}` };
  if (n !== url) req.url = n;
  return null;
}
