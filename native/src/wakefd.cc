// tsvswitch native addon: an eventfd to wake a datapath worker thread.
//
// Mechanism only. The worker waits in waitReadable (afpacket.cc) on this descriptor together
// with its ports' sockets; the main thread makes it readable after posting control messages,
// and the worker drains it before reading those messages. Plain functions on a descriptor
// number, so both threads use the same descriptor without sharing any JavaScript object.

#include <napi.h>

#include "netns.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace {
using tsvs::ErrnoError;

int FdArg(const Napi::CallbackInfo &info, const char *what) {
  if (info.Length() < 1 || !info[0].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + "(fd)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::RangeError::New(info.Env(), std::string(what) + ": bad descriptor");
  return fd;
}

// wakeFdCreate() -> fd: a non-blocking, close-on-exec eventfd with counter 0.
Napi::Value Create(const Napi::CallbackInfo &info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "eventfd", "wakeFdCreate");
  return Napi::Number::New(info.Env(), fd);
}

// wakeFdSignal(fd): adds 1 to the counter (the descriptor becomes readable). A counter at its
// maximum (EAGAIN) is already readable, so that is not an error.
Napi::Value Signal(const Napi::CallbackInfo &info) {
  int fd = FdArg(info, "wakeFdSignal");
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(fd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) throw ErrnoError(info.Env(), errno, "write", "wakeFdSignal");
  return info.Env().Undefined();
}

// wakeFdDrain(fd) -> count: reads and resets the counter (0 when it was not signalled).
Napi::Value Drain(const Napi::CallbackInfo &info) {
  int fd = FdArg(info, "wakeFdDrain");
  uint64_t v = 0;
  ssize_t n;
  do {
    n = read(fd, &v, sizeof v);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return Napi::Number::New(info.Env(), 0);
    throw ErrnoError(info.Env(), errno, "read", "wakeFdDrain");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(v));
}

// wakeFdClose(fd): closes the descriptor.
Napi::Value Close(const Napi::CallbackInfo &info) {
  int fd = FdArg(info, "wakeFdClose");
  close(fd);
  return info.Env().Undefined();
}

} // namespace

void DefineWakeFd(Napi::Env env, Napi::Object exports) {
  exports.Set("wakeFdCreate", Napi::Function::New<Create>(env, "wakeFdCreate"));
  exports.Set("wakeFdSignal", Napi::Function::New<Signal>(env, "wakeFdSignal"));
  exports.Set("wakeFdDrain", Napi::Function::New<Drain>(env, "wakeFdDrain"));
  exports.Set("wakeFdClose", Napi::Function::New<Close>(env, "wakeFdClose"));
}
