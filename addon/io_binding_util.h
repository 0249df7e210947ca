// Helpers shared by the packet I/O binding files (packet_io_binding.cc, packet_port_binding.cc,
// tap_queue_binding.cc).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "packet_ring.h"
#include "port_counters.h"

void SetLastFailedStep(const char* step);
uint32_t GetU32(const Napi::Object& o, const char* k, uint32_t d);
int64_t GetI64(const Napi::Object& o, const char* k, int64_t d);
bool GetBool(const Napi::Object& o, const char* k, bool d);
std::string GetStr(const Napi::Object& o, const char* k);
RingOptions ParseRingOptions(const Napi::Object& o);
std::string MacString(uint64_t mac);
// An external ArrayBuffer over the counters (keeps them alive while JS holds the buffer).
Napi::ArrayBuffer CountersBuffer(Napi::Env env, const std::shared_ptr<PortCounters>& c);

void InitPacketPort(Napi::Env env, Napi::Object exports);  // packet_port_binding.cc
void InitTapQueue(Napi::Env env, Napi::Object exports);    // tap_queue_binding.cc
void InitRelay(Napi::Env env, Napi::Object exports);       // relay.cc
