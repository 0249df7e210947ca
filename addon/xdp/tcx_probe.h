// Whether this process can use the tc fast path (backend 'tc'; the 'auto' rule asks), without
// touching any device. See tcx_probe.cc.
#pragma once

namespace mdx {

// 0 when the kernel has tcx links and the process may load and attach a tc program; else -errno of
// the step that failed, *step naming it ("load" or "link").
int ProbeTcx(const char** step);

}  // namespace mdx
