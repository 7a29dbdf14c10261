// Test packets for BPF_PROG_RUN: an Ethernet + IPv4 + TCP frame with the fields the programs
// read. Checksums are left zero: the programs never check them and the packet never leaves.
export interface TcpPacket {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** TCP flags: 'S' SYN, 'A' ACK, 'F' FIN, 'R' RST, 'P' PSH (e.g. 'S', 'SA', 'A'). */
  flags: string;
  /** IP protocol number; 6 (TCP) unless testing other protocols. */
  protocol?: number;
  /** EtherType; 0x0800 (IPv4) unless testing others. */
  etherType?: number;
  /** IPv4 fragment offset in 8-byte units (a later fragment has no TCP header). */
  fragmentOffset?: number;
}

function ipv4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map((p) => Number(p)));
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10 };

export function tcpFrame(p: TcpPacket): Buffer {
  const eth = Buffer.alloc(14);
  Buffer.from([2, 0, 0, 0, 0, 1]).copy(eth, 0);
  Buffer.from([2, 0, 0, 0, 0, 2]).copy(eth, 6);
  eth.writeUInt16BE(p.etherType ?? 0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(40, 2);
  ip.writeUInt16BE((p.fragmentOffset ?? 0) & 0x1fff, 6);
  ip[8] = 64;
  ip[9] = p.protocol ?? 6;
  ipv4(p.src).copy(ip, 12);
  ipv4(p.dst).copy(ip, 16);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(p.sport, 0);
  tcp.writeUInt16BE(p.dport, 2);
  tcp.writeUInt32BE(1000, 4);
  tcp[12] = 5 << 4;
  let bits = 0;
  for (const c of p.flags) bits |= FLAG_BITS[c] ?? 0;
  tcp[13] = bits;
  tcp.writeUInt16BE(65535, 14);
  return Buffer.concat([eth, ip, tcp]);
}
