// The HPACK static table (RFC 7541 Appendix A): 61 entries, index 1 first. Fact of the spec.

/** [name, value] by index - 1. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

export const STATIC_TABLE_LENGTH = 61;

/** name → lowest static index with that name (for the encoder). */
export const STATIC_NAME_INDEX: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  STATIC_TABLE.forEach(([n], i) => {
    if (!m.has(n)) m.set(n, i + 1);
  });
  return m;
})();

/**
 * name → (value → static index), for the entries that have a value (for the encoder): the name is
 * looked up first, so a field whose name has no static values costs one lookup and no string built.
 */
export const STATIC_VALUE_INDEX: ReadonlyMap<string, ReadonlyMap<string, number>> = (() => {
  const m = new Map<string, Map<string, number>>();
  STATIC_TABLE.forEach(([n, v], i) => {
    if (v === '') return;
    let values = m.get(n);
    if (values === undefined) m.set(n, (values = new Map()));
    if (!values.has(v)) values.set(v, i + 1);
  });
  return m;
})();
