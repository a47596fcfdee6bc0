// tsvswitch native addon: a bounded busy read of a stream socket.
//
// Mechanism only. A request-response peer (ovs-ofctl waiting for a barrier reply before its
// next flow-mod) sends its next message a few microseconds after our reply. Going back to the
// event loop to wait for it costs two cross-core wake-ups per round trip, which on a VM is
// most of the round trip. busyRead re-tries a non-blocking recv for at most a given number of
// microseconds instead, so the caller sees the next message without sleeping. When to spin,
// and for how long, is the caller's policy (lib/transport.ts).

#include <napi.h>

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

namespace {

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// busyRead(fd, buf: Uint8Array, budgetUs) -> n: recv(MSG_DONTWAIT) into buf, retried until
// bytes arrive or budgetUs microseconds pass. Returns the byte count (> 0), 0 when the peer
// has closed, -EAGAIN when nothing arrived within the budget, or -errno on another error.
// Never blocks in the kernel and never throws for socket errors.
Napi::Value BusyRead(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      !info[2].IsNumber())
    throw Napi::TypeError::New(env, "busyRead(fd, buf, budgetUs)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  double budget = info[2].As<Napi::Number>().DoubleValue();
  if (fd < 0) throw Napi::RangeError::New(env, "busyRead: bad descriptor");
  if (!(budget >= 0) || budget > 1000000)
    throw Napi::RangeError::New(env, "busyRead: budget out of range (0..1000000 us)");
  const int64_t deadline = NowNs() + static_cast<int64_t>(budget * 1000);
  unsigned spins = 0;
  for (;;) {
    ssize_t n = recv(fd, buf.Data(), buf.ElementLength(), MSG_DONTWAIT);
    if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return Napi::Number::New(env, -errno);
    // The clock is read every few tries only; a failed recv costs well under a microsecond.
    if ((++spins & 7) == 0 && NowNs() >= deadline) return Napi::Number::New(env, -EAGAIN);
  }
}

} // namespace

void DefineBusyRead(Napi::Env env, Napi::Object exports) {
  exports.Set("busyRead", Napi::Function::New<BusyRead>(env, "busyRead"));
}
