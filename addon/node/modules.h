// Each binding file registers its exports from its own Init function; binding.cc calls them in order.
#pragma once
#include <napi.h>

void InitNetns(Napi::Env env, Napi::Object exports);          // netns_binding.cc
void InitErrnoText(Napi::Env env, Napi::Object exports);      // errno_text.cc
void InitNetlinkSocket(Napi::Env env, Napi::Object exports);  // netlink_socket.cc
void InitIoCounters(Napi::Env env, Napi::Object exports);     // io_args.cc
void InitPacketPort(Napi::Env env, Napi::Object exports);     // packet_port_binding.cc
void InitTapQueue(Napi::Env env, Napi::Object exports);       // tap_queue_binding.cc
void InitGenerator(Napi::Env env, Napi::Object exports);      // generator_binding.cc
void InitSink(Napi::Env env, Napi::Object exports);           // sink_binding.cc
void InitRelay(Napi::Env env, Napi::Object exports);          // relay_binding.cc
void InitIoBench(Napi::Env env, Napi::Object exports);        // io_bench_binding.cc
void InitTable(Napi::Env env, Napi::Object exports);          // table_binding.cc
void InitEngine(Napi::Env env, Napi::Object exports);         // engine_binding.cc
void InitLinkMonitor(Napi::Env env, Napi::Object exports);    // link_monitor_binding.cc (RTNLGRP_LINK events)
void InitXdp(Napi::Env env, Napi::Object exports);           // ../xdp/xdp_binding.cc (XDP program of the uplink)
void InitXdpGenerator(Napi::Env env, Napi::Object exports);  // ../xdp/xdp_generator.cc (bench: XDP-frame generator)
void InitUnixFdPassing(Napi::Env env, Napi::Object exports); // unix_fd_passing.cc (SO_PEERCRED, SCM_RIGHTS for the fd hand-off)
