/**
 * The XDP-frame generator as a process of its own (its BPF_PROG_RUN blocks the calling thread for
 * the whole run): `node --import tsx bench/xdp-gen.ts NETNS IFNAME COUNT DST SRC SIZE [RATE_PPS]`
 * sends COUNT copies of one frame out of IFNAME as XDP frames (addon/xdp/xdp_generator.cc) and
 * prints {"ns": elapsed} as JSON, or {"errno": -N}. With RATE_PPS the frames carry the test payload
 * (addon/tools/generator.h: the generator program stamps sequence and send time into each) and go
 * out paced, in bursts of 16, for the native sink's latency; without it, as fast as possible.
 */
import { native } from '../src/native.ts';
import { parseMac, writeMac } from '../src/dataplane/mac.ts';

const [netns, ifname, count, dst, src, size, rate] = process.argv.slice(2);
const f = new Uint8Array(Number(size ?? 60));
writeMac(f, 0, parseMac(dst!, 'dst'));
writeMac(f, 6, parseMac(src!, 'src'));
f[12] = 0x88;
f[13] = 0xb5; // local experimental EtherType (TestPayload.kEtherType)
const ratePps = Number(rate ?? 0);
if (ratePps > 0) {
  f.set([0x4d, 0x44, 0x58, 0x31], 14); // TestPayload magic "MDX1"; stream 0; seq and time by the program
}
const gen = native() as unknown as {
  xdpGenerate(ns: string, ifname: string, frame: Uint8Array, count: number, batch: number, ratePps: number): { ns?: number; errno?: number };
};
process.stdout.write(`${JSON.stringify(gen.xdpGenerate(netns!, ifname!, f, Number(count), ratePps > 0 ? 16 : 64, ratePps))}\n`);
