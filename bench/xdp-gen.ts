/**
 * The XDP-frame generator as a process of its own (its BPF_PROG_RUN blocks the calling thread for
 * the whole run): `node --import tsx bench/xdp-gen.ts NETNS IFNAME COUNT DST SRC SIZE` sends COUNT
 * copies of one frame out of IFNAME as XDP frames (addon/xdp/xdp_generator.cc) and prints
 * {"ns": elapsed} as JSON, or {"errno": -N}.
 */
import { native } from '../src/native.ts';
import { parseMac, writeMac } from '../src/dataplane/mac.ts';

const [netns, ifname, count, dst, src, size] = process.argv.slice(2);
const f = new Uint8Array(Number(size ?? 60));
writeMac(f, 0, parseMac(dst!, 'dst'));
writeMac(f, 6, parseMac(src!, 'src'));
f[12] = 0x88;
f[13] = 0xb5; // local experimental EtherType
const gen = native() as unknown as { xdpGenerate(ns: string, ifname: string, frame: Uint8Array, count: number, batch: number): { ns?: number; errno?: number } };
process.stdout.write(`${JSON.stringify(gen.xdpGenerate(netns!, ifname!, f, Number(count), 64))}\n`);
