// The DNS messages of the node tier's cluster DNS stand-in (kube-node.ts): parse a query's one
// question, and answer it with an A record, an empty answer (the name exists, no record of that
// type) or NXDOMAIN (RFC 1035 §4.1). Pure functions; the UDP socket lives in kube-node.ts.

export interface DnsQuestion {
  /** Lower-case, without the trailing dot. */
  name: string;
  type: number;
  /** Offset just past the question (type and class included). */
  end: number;
}

const TYPE_A = 1;

/** The first question of a standard query; undefined for anything else (a response, a truncated message). */
export function dnsQuestion(msg: Buffer): DnsQuestion | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if ((flags & 0x8000) !== 0 || ((flags >> 11) & 0xf) !== 0 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  for (;;) {
    if (i >= msg.length) return undefined;
    const len = msg[i]!;
    if (len === 0) { i += 1; break; }
    if ((len & 0xc0) !== 0 || i + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  if (i + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i), end: i + 4 };
}

/**
 * The response to `query`: `ip` a string → one A record (TTL 5 s) when an A record was asked,
 * an empty answer for other types; null → an empty answer; undefined → NXDOMAIN.
 */
export function dnsAnswer(query: Buffer, q: DnsQuestion, ip: string | null | undefined): Buffer {
  const head = Buffer.from(query.subarray(0, q.end));
  const rd = head.readUInt16BE(2) & 0x0100;
  const withRecord = typeof ip === 'string' && q.type === TYPE_A;
  head.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | (ip === undefined ? 3 : 0), 2); // QR AA RD RA, RCODE
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(withRecord ? 1 : 0, 6);
  head.writeUInt32BE(0, 8); // NSCOUNT, ARCOUNT
  if (!withRecord) return head;
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  rr.writeUInt16BE(TYPE_A, 2);
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(5, 6);
  rr.writeUInt16BE(4, 10);
  ip.split('.').forEach((o, k) => rr.writeUInt8(Number(o), 12 + k));
  return Buffer.concat([head, rr]);
}
