// Builds PortTable blobs (the format of addon/dataplane/port_table.h) for the tests.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/port_table.h"

namespace mdxtest {

struct PortDef {
  uint32_t slot;
  uint64_t mac;
  uint16_t vlan = 0;
  uint8_t mode = mdx::kModeBridge;
  uint8_t flags = 0;
  std::vector<uint64_t> sources, groups;
};

inline void Put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; i++) b.push_back(uint8_t(v >> (8 * i)));
}
inline void Put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(uint8_t(v));
  b.push_back(uint8_t(v >> 8));
}
inline void PutMac(std::vector<uint8_t>& b, uint64_t mac) {
  for (int i = 5; i >= 0; i--) b.push_back(uint8_t(mac >> (8 * i)));
}

inline std::vector<uint8_t> TableBlob(const std::vector<PortDef>& ports, uint32_t maxFrameLen = 1514) {
  std::vector<uint8_t> b;
  Put32(b, 0x5458444d);
  Put32(b, 1);
  Put32(b, uint32_t(ports.size()));
  Put32(b, maxFrameLen);
  for (const auto& p : ports) {
    Put32(b, p.slot);
    PutMac(b, p.mac);
    Put16(b, p.vlan);
    b.push_back(p.mode);
    b.push_back(p.flags);
    Put16(b, uint16_t(p.sources.size()));
    Put16(b, uint16_t(p.groups.size()));
    b.push_back(0);
    b.push_back(0);
    for (uint64_t m : p.sources) PutMac(b, m);
    for (uint64_t m : p.groups) PutMac(b, m);
  }
  return b;
}

inline std::unique_ptr<mdx::PortTable> BuildTable(const std::vector<PortDef>& ports, std::string* err = nullptr,
                                                  int* rc = nullptr, uint32_t maxFrameLen = 1514) {
  const std::vector<uint8_t> blob = TableBlob(ports, maxFrameLen);
  std::unique_ptr<mdx::PortTable> t;
  std::string e;
  const int r = mdx::PortTable::Build(blob.data(), blob.size(), 64, &t, &e);
  if (err) *err = e;
  if (rc) *rc = r;
  return t;
}

// An Ethernet frame: dst, src, optional 802.1Q tag, EtherType, zero payload up to len.
inline std::vector<uint8_t> Frame(uint64_t dst, uint64_t src, uint16_t ethertype = 0x0800, uint32_t len = 60,
                                  int vlan = -1) {
  std::vector<uint8_t> f;
  PutMac(f, dst);
  PutMac(f, src);
  if (vlan >= 0) {
    f.push_back(0x81);
    f.push_back(0x00);
    f.push_back(uint8_t(vlan >> 8));
    f.push_back(uint8_t(vlan));
  }
  f.push_back(uint8_t(ethertype >> 8));
  f.push_back(uint8_t(ethertype));
  if (f.size() < len) f.resize(len, 0);
  return f;
}

}  // namespace mdxtest
