// The one place a request's query string is made safe to leave the agent. Queries carry secrets
// (`?token=`, `?api_key=`, signed-URL signatures, OAuth codes), and every output that shows a
// request's path — the live tap (admin WebSocket and control's dashboard fan-out), the access log,
// the policy deny and audit lines, OpenTelemetry log records — calls this, so none can forget.
//
// Redacted form: the path is kept as sent; each `&`-separated query part keeps its name and the
// bytes of its value become REDACTED (`?token=REDACTED&page=REDACTED`). An empty value stays empty
// (`?a=`: nothing to hide, and it shows the parameter was there). A part without `=` is redacted
// whole (`?REDACTED`), as a bare part is as often a value (`?<api-key>`) as a flag. A fragment
// cannot reach the agent (request targets have none). Names are kept byte for byte.
//
// Operators who need the values opt in with WEFT_QUERY_VALUES=full (queryRedactor('full')).

export const REDACTED = 'REDACTED';

/** What leaves the agent of a query: `redacted` (the default) or `full`. */
export const QUERY_VALUE_MODES = ['redacted', 'full'] as const;
export type QueryValueMode = (typeof QUERY_VALUE_MODES)[number];

/** A path (with its query, if any) with every query value replaced by REDACTED. */
export function redactQuery(path: string): string {
  const q = path.indexOf('?');
  // No query: the common case costs one scan and no allocation.
  if (q < 0 || q === path.length - 1) return path;
  let out = path.slice(0, q + 1);
  let start = q + 1;
  while (start <= path.length) {
    let end = path.indexOf('&', start);
    if (end < 0) end = path.length;
    if (start > q + 1) out += '&';
    const eq = path.indexOf('=', start);
    if (eq < 0 || eq >= end) {
      // A bare part: empty stays empty (`a&&b`), anything else may be a value on its own.
      if (end > start) out += REDACTED;
    } else {
      out += path.slice(start, eq + 1);
      if (end > eq + 1) out += REDACTED;
    }
    start = end + 1;
  }
  return out;
}

function keepQuery(path: string): string {
  return path;
}

/** The function an output holds, chosen once from the setting (no branch per request). */
export function queryRedactor(mode: QueryValueMode): (path: string) => string {
  return mode === 'full' ? keepQuery : redactQuery;
}
