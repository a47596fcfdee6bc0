// tsvswitch native addon: helpers shared by afpacket.cc and tap.cc (errors with errno codes,
// running a syscall inside another network namespace).
#pragma once

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <string>

namespace tsvs {

inline Napi::Error ErrnoError(Napi::Env env, int err, const char *syscall, const std::string &what) {
  std::string msg = what + ": " + syscall + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  const char *code = nullptr;
  switch (err) {
#define C(x)                                                                                       \
  case x:                                                                                          \
    code = #x;                                                                                     \
    break;
    C(EPERM) C(ENOENT) C(ENODEV) C(ENXIO) C(EACCES) C(EINVAL) C(EBADF) C(ENETDOWN) C(EMSGSIZE)
    C(ENOBUFS) C(EAGAIN) C(EADDRNOTAVAIL) C(EBUSY) C(EOPNOTSUPP) C(ENOMEM) C(ERANGE)
#undef C
  default:
    break;
  }
  if (code != nullptr) e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// Runs `fn` with the calling thread inside the network namespace at `path` (empty: the
// current one) and switches back before returning. Network namespaces are per thread, and a
// socket stays in the namespace it was created in, so this is all a socket needs.
template <typename F>
inline int InNetns(Napi::Env env, const std::string &path, F fn) {
  if (path.empty()) return fn();
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) throw ErrnoError(env, errno, "open", "/proc/thread-self/ns/net");
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    throw ErrnoError(env, e, "open", "netns " + path);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(self);
    close(target);
    throw ErrnoError(env, e, "setns", "netns " + path);
  }
  close(target);
  int r = fn();
  int saved = errno;
  if (setns(self, CLONE_NEWNET) < 0) {
    // The thread would stay in the wrong namespace: nothing sane can continue.
    Napi::Error::Fatal("tsvs_afpacket", "setns back to the original network namespace failed");
  }
  close(self);
  errno = saved;
  return r;
}

} // namespace tsvs
