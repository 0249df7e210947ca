// Each native concept registers its exports from its own file; binding.cc calls them in order.
#pragma once
#include <napi.h>

void InitNetns(Napi::Env env, Napi::Object exports);        // netns.cc
void InitErrnoText(Napi::Env env, Napi::Object exports);    // errno_text.cc
void InitNetlinkSocket(Napi::Env env, Napi::Object exports); // netlink_socket.cc
void InitPacketIo(Napi::Env env, Napi::Object exports);      // packet_io_binding.cc (rings, tap queues, generator, sink)
void InitEngine(Napi::Env env, Napi::Object exports);        // engine_binding.cc (demux engine, port table)
void InitLinkMonitor(Napi::Env env, Napi::Object exports);    // link_monitor.cc (RTNLGRP_LINK events)
void InitXdp(Napi::Env env, Napi::Object exports);           // xdp/xdp_binding.cc (XDP program of the uplink)
