// Option readers and views shared by the packet I/O bindings (ports, tap queues, tools).
#pragma once
#include <napi.h>

#include <memory>

#include "io/packet_ring.h"
#include "io/port_counters.h"

// RingOptions from a JS options object (src/io/options.ts names; absent keys keep the defaults).
RingOptions ParseRingOptions(const Napi::Object& o);
// An external ArrayBuffer over the counters (keeps them alive while JS holds the buffer).
Napi::ArrayBuffer CountersBuffer(Napi::Env env, const std::shared_ptr<PortCounters>& c);
