/**
 * Classic BPF programs for SO_ATTACH_FILTER: from `tcpdump -dd` text, from instruction tuples,
 * and a few builders for the filters macdemux itself needs.
 */
import { InvalidArgumentError } from '../errors.ts';
import { parseMac } from '../net/index.ts';

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A program: instructions, [code, jt, jf, k] tuples, or `tcpdump -dd` output text. */
export type BpfProgram = BpfInsn[] | Array<[number, number, number, number]> | string;

/** Parse `tcpdump -dd` output (`{ 0x28, 0, 0, 0x0000000c },` per line). */
export function parseTcpdumpDd(text: string): BpfInsn[] {
  const out: BpfInsn[] = [];
  const re = /\{\s*(0x[0-9a-f]+|\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(0x[0-9a-f]+|\d+)\s*\}/gi;
  for (const m of text.matchAll(re)) out.push({ code: Number(m[1]), jt: Number(m[2]), jf: Number(m[3]), k: Number(m[4]) });
  if (out.length === 0) throw new InvalidArgumentError('filter', 'tcpdump -dd output ({ code, jt, jf, k } lines)', text.slice(0, 60));
  return out;
}

/** Normalise and validate a program into its kernel encoding (8 bytes per instruction, host order). */
export function encodeBpf(prog: BpfProgram, field = 'filter'): Uint8Array {
  const insns: BpfInsn[] =
    typeof prog === 'string'
      ? parseTcpdumpDd(prog)
      : Array.isArray(prog)
        ? prog.map((p) => (Array.isArray(p) ? { code: p[0], jt: p[1], jf: p[2], k: p[3] } : p))
        : [];
  if (!Array.isArray(prog) && typeof prog !== 'string') throw new InvalidArgumentError(field, 'a BPF program', prog);
  if (insns.length === 0 || insns.length > 4096) throw new InvalidArgumentError(field, '1 to 4096 instructions', insns.length);
  const buf = new Uint8Array(insns.length * 8);
  const dv = new DataView(buf.buffer);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  insns.forEach((ins, i) => {
    const ok =
      Number.isInteger(ins.code) && ins.code >= 0 && ins.code <= 0xffff &&
      Number.isInteger(ins.jt) && ins.jt >= 0 && ins.jt <= 255 &&
      Number.isInteger(ins.jf) && ins.jf >= 0 && ins.jf <= 255 &&
      Number.isInteger(ins.k) && ins.k >= -0x80000000 && ins.k <= 0xffffffff;
    if (!ok) throw new InvalidArgumentError(`${field}[${i}]`, 'a BPF instruction {code u16, jt u8, jf u8, k u32}', ins);
    dv.setUint16(i * 8, ins.code, le);
    dv.setUint8(i * 8 + 2, ins.jt);
    dv.setUint8(i * 8 + 3, ins.jf);
    dv.setUint32(i * 8 + 4, ins.k >>> 0, le);
  });
  return buf;
}

// Opcodes used by the builders.
const LD_H_ABS = 0x28;
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const RET_K = 0x06;

/** Accept frames whose EtherType (after the kernel removed any VLAN tag) is `etherType`. */
export function bpfEtherType(etherType: number): BpfInsn[] {
  return [
    { code: LD_H_ABS, jt: 0, jf: 0, k: 12 },
    { code: JEQ_K, jt: 0, jf: 1, k: etherType },
    { code: RET_K, jt: 0, jf: 0, k: 0x40000 },
    { code: RET_K, jt: 0, jf: 0, k: 0 },
  ];
}

/** Accept frames whose destination MAC is `mac`. */
export function bpfDstMac(mac: string): BpfInsn[] {
  const b = parseMac(mac, 'mac', { unicast: false });
  const hi = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
  const lo = (b[4]! << 8) | b[5]!;
  return [
    { code: LD_W_ABS, jt: 0, jf: 0, k: 0 },
    { code: JEQ_K, jt: 0, jf: 3, k: hi >>> 0 },
    { code: LD_H_ABS, jt: 0, jf: 0, k: 4 },
    { code: JEQ_K, jt: 0, jf: 1, k: lo },
    { code: RET_K, jt: 0, jf: 0, k: 0x40000 },
    { code: RET_K, jt: 0, jf: 0, k: 0 },
  ];
}

/**
 * Compile a pcap filter expression with `tcpdump -dd -y EN10MB` (no interface is opened).
 * Rejects with tcpdump's message when the expression is invalid or tcpdump is missing.
 */
export async function compileTcpdumpFilter(expression: string): Promise<BpfInsn[]> {
  if (typeof expression !== 'string' || expression.trim() === '')
    throw new InvalidArgumentError('expression', 'a pcap filter expression', expression);
  const { execFile } = await import('node:child_process');
  const text = await new Promise<string>((resolve, reject) =>
    execFile('tcpdump', ['-dd', '-y', 'EN10MB', expression], { timeout: 10_000 }, (err, out, errOut) =>
      err ? reject(new Error(`tcpdump -dd ${JSON.stringify(expression)}: ${(errOut || err.message).trim()}`)) : resolve(out),
    ),
  );
  return parseTcpdumpDd(text);
}
