// Addon entry point. No C++ exceptions cross this boundary (built with -fno-exceptions):
// every native call returns a count or -errno, and TypeScript turns that into an Error.
#include "node/modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitNetns(env, exports);
  InitErrnoText(env, exports);
  InitNetlinkSocket(env, exports);
  InitIoCounters(env, exports);
  InitPacketPort(env, exports);
  InitTapQueue(env, exports);
  InitGenerator(env, exports);
  InitSink(env, exports);
  InitRelay(env, exports);
  InitIoBench(env, exports);
  InitTable(env, exports);
  InitEngine(env, exports);
  InitLinkMonitor(env, exports);
  InitXdp(env, exports);
  InitUnixFdPassing(env, exports);
  InitXdpGenerator(env, exports);
  return exports;
}

NODE_API_MODULE(macdemux, Init)
