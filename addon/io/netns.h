// Run a piece of native code inside a network namespace.
// Sockets keep the namespace they were created in, so a socket opened by RunInNetns
// stays in that namespace after the helper thread is gone.
#pragma once
#include <functional>
#include <string>

// nsPath: "" (current namespace), a path such as /run/netns/NAME or /proc/PID/ns/net,
// or a bare NAME (looked up under /run/netns/). Returns fn()'s result, or -errno when the
// namespace cannot be entered (ENOENT: no such namespace; EPERM: needs CAP_SYS_ADMIN).
int RunInNetns(const std::string& nsPath, const std::function<int()>& fn);

// The path RunInNetns would open for nsPath ("" stays "").
std::string ResolveNetnsPath(const std::string& nsPath);
