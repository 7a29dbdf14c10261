// Talking to control's dashboard API: same origin only. When the dashboard needs a token it came
// in the page URL (?token=); it is sent as a bearer header on fetches and as ?token= on the tap
// WebSocket (browsers cannot set headers there).
const token = new URLSearchParams(location.search).get('token');

export class ApiError extends Error {}

export async function getJson<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  const url = `${path}${q.size > 0 ? `?${q.toString()}` : ''}`;
  const res = await fetch(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { code?: string; message?: string };
      if (body.message !== undefined) message = `${body.code ?? res.status}: ${body.message}`;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(message);
  }
  return (await res.json()) as T;
}

export function tapUrl(filter: Record<string, string>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== '') q.set(k, v);
  if (token !== null) q.set('token', token);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/tap${q.size > 0 ? `?${q.toString()}` : ''}`;
}

/** Keeps the token on in-page links (#/…) working: the hash changes, the query stays. */
export function href(hash: string): string {
  return `#${hash}`;
}
