// Reads a classic pcap file (tcpdump -w) of Ethernet/IPv4/TCP and gives each TCP flow's payload
// in capture order. Enough to assert what crossed a wire: is it TLS 1.3, is a payload visible.
export interface TcpFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;

function ip4(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

export function parsePcap(file: Buffer): TcpFlow[] {
  if (file.length < 24) throw new Error('pcap: file shorter than its header');
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('pcap: not a pcap file');
  const u32 = (o: number): number => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const linkType = u32(20);
  if (linkType !== LINKTYPE_ETHERNET && linkType !== LINKTYPE_LINUX_SLL) throw new Error(`pcap: unsupported link type ${linkType}`);
  const flows = new Map<string, { flow: TcpFlow; parts: Buffer[] }>();
  let off = 24;
  while (off + 16 <= file.length) {
    const incl = u32(off + 8);
    const pkt = file.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    let l3 = linkType === LINKTYPE_ETHERNET ? 14 : 16;
    const etherType = pkt.readUInt16BE(l3 - 2);
    if (etherType === 0x8100) l3 += 4; // VLAN tag
    else if (etherType !== 0x0800) continue;
    if (pkt.length < l3 + 20 || pkt[l3] >> 4 !== 4) continue;
    const ihl = (pkt[l3] & 0x0f) * 4;
    if (pkt[l3 + 9] !== 6) continue; // TCP only
    const totalLen = pkt.readUInt16BE(l3 + 2);
    const l4 = l3 + ihl;
    const dataOff = (pkt[l4 + 12] >> 4) * 4;
    // GSO super-packets may carry 0 as their IP length: then the captured bytes are the packet.
    const end = totalLen === 0 ? pkt.length : Math.min(pkt.length, l3 + totalLen);
    const payload = pkt.subarray(l4 + dataOff, end);
    const src = ip4(pkt, l3 + 12);
    const dst = ip4(pkt, l3 + 16);
    const sport = pkt.readUInt16BE(l4);
    const dport = pkt.readUInt16BE(l4 + 2);
    const key = `${src}:${sport}>${dst}:${dport}`;
    let f = flows.get(key);
    if (f === undefined) {
      f = { flow: { src, dst, sport, dport, payload: Buffer.alloc(0) }, parts: [] };
      flows.set(key, f);
    }
    if (payload.length > 0) f.parts.push(Buffer.from(payload));
  }
  return [...flows.values()].map(({ flow, parts }) => ({ ...flow, payload: Buffer.concat(parts) }));
}

/** TLS records at the start of a flow: [contentType, legacyVersion] of each, until the data ends. */
export function tlsRecordTypes(payload: Buffer): number[] {
  const types: number[] = [];
  let o = 0;
  while (o + 5 <= payload.length) {
    const type = payload[o];
    if (type < 20 || type > 24 || payload[o + 1] !== 3) break;
    types.push(type);
    o += 5 + payload.readUInt16BE(o + 3);
  }
  return types;
}

/** True when a ServerHello in this flow selects TLS 1.3 (supported_versions = 0x0304). */
export function selectsTls13(serverToClient: Buffer): boolean {
  // Record header 16 03 03, handshake type 02 (ServerHello), and the extension 002b 0002 0304.
  return serverToClient[0] === 0x16 && serverToClient[5] === 0x02 && serverToClient.includes(Buffer.from([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]));
}
