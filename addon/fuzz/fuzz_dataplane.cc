// libFuzzer harness of the data plane's pure core: PortTable::Build on an arbitrary blob, and
// ParseFrame + Decide of arbitrary frames against a table (the fuzzed one when it builds, else a
// fixed table with every mode, VLANs, a passthru VLAN and source/group lists). Built and run for a
// bounded time by test/unit/native-fuzz.test.ts (clang -fsanitize=fuzzer,address,undefined).
//
// Input layout: u8 selector, u16 blobLen, blobLen bytes of table blob, then frames, each
// u8 flags (bit0 parseTag, bit1 aux TCI present, bits 2..7 ingress), u16 auxTci, u16 len, len bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/decision.h"
#include "dataplane/frame_parse.h"
#include "dataplane/port_table.h"
#include "test/table_builder.h"  // the blob encoder the C++ unit tests use

namespace {

// A fixed table with every mode, VLANs, a passthru VLAN and source/group lists (slot 0 is the uplink's).
std::vector<uint8_t> FixedBlob() {
  return mdxtest::TableBlob({
      {1, 0x020000000001, 0, mdx::kModeBridge, 0, {}, {0x01005e000001}},
      {2, 0x020000000002, 0, mdx::kModePrivate, 0, {}, {}},
      {3, 0x020000000003, 0, mdx::kModeVepa, 0, {}, {}},
      {4, 0x020000000004, 10, mdx::kModeBridge, 0, {}, {}},
      {5, 0x020000000005, 10, mdx::kModeSource, 0, {0x020000000099, 0x0200000000aa}, {}},
      {6, 0x020000000006, 20, mdx::kModePassthru, 0, {}, {}},
  });
}

const mdx::PortTable& FixedTable() {
  static std::unique_ptr<mdx::PortTable> t = [] {
    const std::vector<uint8_t> blob = FixedBlob();
    std::unique_ptr<mdx::PortTable> out;
    std::string err;
    if (mdx::PortTable::Build(blob.data(), blob.size(), 64, &out, &err) != 0) {
      fprintf(stderr, "fixed table refused: %s\n", err.c_str());
      __builtin_trap();
    }
    return out;
  }();
  return *t;
}

uint16_t Le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t selector = data[0];
  size_t blobLen = Le16(data + 1);
  size_t off = 3;
  if (blobLen > size - off) blobLen = size - off;
  // Half the inputs start from the fixed table's valid blob with the fuzzed bytes overlaid, so
  // Build gets past its header checks and into the per-port ones.
  std::vector<uint8_t> blob(data + off, data + off + blobLen);
  if (selector & 1) {
    std::vector<uint8_t> base = FixedBlob();
    for (size_t i = 0; i < blob.size() && i < base.size(); i++) base[(i * 7 + selector) % base.size()] ^= blob[i];
    blob.swap(base);
  }
  off += blobLen;
  std::unique_ptr<mdx::PortTable> fuzzed;
  std::string err;
  const int rc = mdx::PortTable::Build(blob.data(), blob.size(), 64, &fuzzed, &err);
  if (rc != 0 && fuzzed) __builtin_trap();  // a refused blob yields no table
  const mdx::PortTable& t = rc == 0 && fuzzed ? *fuzzed : FixedTable();
  const int32_t nports = int32_t(t.ports().size());

  while (size - off >= 5) {
    const uint8_t flags = data[off];
    const uint16_t tci = Le16(data + off + 1);
    size_t len = Le16(data + off + 3);
    off += 5;
    if (len > size - off) len = size - off;
    // A private copy of exactly len bytes, so ASan sees any read past the frame.
    std::unique_ptr<uint8_t[]> frame(new uint8_t[len ? len : 1]);
    if (len) memcpy(frame.get(), data + off, len);
    off += len;
    mdx::ParsedFrame f;
    const bool parseTag = flags & 1;
    const uint32_t aux = (flags & 2) ? tci : mdx::kNoVlanTci;
    if (mdx::ParseFrame(len ? frame.get() : nullptr, uint32_t(len), aux, parseTag, 1514, &f) != mdx::kDropNone) continue;
    const int32_t sel = flags >> 2;
    const int32_t ingress = nports == 0 || sel % (nports + 1) == 0 ? mdx::kIngressUplink : (sel % (nports + 1)) - 1;
    // Exactly the capacity the engine allocates: ASan catches a decision that writes past it.
    std::unique_ptr<uint32_t[]> egress(new uint32_t[mdx::DecisionCapacity(t)]);
    mdx::Decision d;
    d.ports = egress.get();
    mdx::Decide(t, f, ingress, &d);
    if (d.n > mdx::DecisionCapacity(t)) __builtin_trap();
    for (uint32_t i = 0; i < d.n; i++)
      if (d.ports[i] >= uint32_t(nports)) __builtin_trap();  // every target is a port of the table
  }
  return 0;
}
