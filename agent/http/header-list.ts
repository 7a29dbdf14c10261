// A header list: the fields of a message as one flat array, [name, value, name, value, …], names
// lower case, in order, a repeated field repeated. The form the agent's codecs read and write
// (HPACK's header lists, agent/http1's rawHeaders lower-cased), and since issue 19 the form a
// forwarded request's end-to-end fields travel in (`AttemptRequest.headers`): the writers (the
// hop's HPACK encoder, the pod's HTTP/1.1 head) walk it in one pass, where a header object keyed
// by fresh strings cost a copy and megamorphic keyed loads and stores per hop. The few readers
// that want one field look it up here: a linear scan over ~10 fields is cheaper than hashing.

export type HeaderList = string[];

/** The first value of `name` (lower case), or undefined. */
export function listGet(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/**
 * The value of `name` (lower case) when the list has it exactly once; undefined when absent or
 * repeated — where a header object would join the repeats into one value no strict parser takes.
 */
export function listGetOnce(list: readonly string[], name: string): string | undefined {
  let v: string | undefined = undefined;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] !== name) continue;
    if (v !== undefined) return undefined;
    v = list[i + 1];
  }
  return v;
}

/** Removes every `name` field (lower case), in place; keeps the others' order. */
export function listDelete(list: HeaderList, name: string): void {
  let w = 0;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === name) continue;
    if (w !== i) {
      list[w] = list[i];
      list[w + 1] = list[i + 1];
    }
    w += 2;
  }
  list.length = w;
}

/** Sets `name` (lower case) to the one value `value`, in place: the first field keeps its place, other ones go; none: appended. */
export function listSet(list: HeaderList, name: string, value: string): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] !== name) continue;
    list[i + 1] = value;
    const rest = list.splice(i + 2);
    listDelete(rest, name);
    for (const x of rest) list.push(x);
    return;
  }
  list.push(name, value);
}
