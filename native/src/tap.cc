// tsvswitch native addon: TAP devices for internal ports (the bridge's LOCAL port among them).
//
// Mechanism only, as in afpacket.cc: one TapDevice owns one /dev/net/tun file descriptor
// attached (TUNSETIFF, IFF_TAP | IFF_NO_PI) to a TAP interface of the given name, created if it
// does not exist. Frames move between the descriptor and memory JavaScript owns, one read() or
// write() per frame (the tun driver has no batched calls), several frames per call into
// JavaScript. Readiness is a libuv poll handle. Interface attributes (flags, MTU, MAC, ifindex)
// go through the usual SIOC* ioctls on a datagram socket. A datapath worker thread adopts the
// descriptor the main thread opened (it reads and writes frames, the owner keeps the device).
// Policy lives in datapath/netdev-tap.ts.

#include <napi.h>
#include <uv.h>

#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace {


constexpr int kTapMaxBatch = 256;

// Devices whose descriptor a worker thread is closing (key: netns path, NUL, name). Opening a
// device of the same name waits until that close has finished: until then the kernel still has
// the old device attached and TUNSETIFF would fail with EBUSY (a port deleted and re-added at
// once, as `del-br` then `add-br` do).
std::mutex g_closingMu;
std::condition_variable g_closingCv;
std::multiset<std::string> g_closing;

std::string ClosingKey(const std::string &netns, const std::string &name) {
  return netns + std::string(1, '\0') + name;
}

class TapDevice : public Napi::ObjectWrap<TapDevice> {
public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TapDevice",
                       {
                           InstanceAccessor<&TapDevice::Fd>("fd"),
                           InstanceAccessor<&TapDevice::Name>("name"),
                           InstanceMethod<&TapDevice::Read>("read"),
                           InstanceMethod<&TapDevice::Write>("write"),
                           InstanceMethod<&TapDevice::StartPoll>("startPoll"),
                           InstanceMethod<&TapDevice::StopPoll>("stopPoll"),
                           InstanceMethod<&TapDevice::GetFlags>("getFlags"),
                           InstanceMethod<&TapDevice::SetFlags>("setFlags"),
                           InstanceMethod<&TapDevice::GetMtu>("getMtu"),
                           InstanceMethod<&TapDevice::SetMtu>("setMtu"),
                           InstanceMethod<&TapDevice::GetMac>("getMac"),
                           InstanceMethod<&TapDevice::SetMac>("setMac"),
                           InstanceMethod<&TapDevice::GetIfindex>("getIfindex"),
                           InstanceMethod<&TapDevice::Close>("close"),
                       });
  }

  // new TapDevice(name, netnsPath?, adoptFd?): the device is created in that network namespace
  // (the control socket for its ioctls too), or in the thread's current one. With adoptFd (a
  // descriptor another TapDevice of this process attached, e.g. on the main thread, for a
  // datapath worker thread): nothing is opened or attached, only a control socket for the
  // ioctls in that namespace; close() leaves the descriptor open for its owner.
  explicit TapDevice(const Napi::CallbackInfo &info) : Napi::ObjectWrap<TapDevice>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString())
      throw Napi::TypeError::New(env, "new TapDevice(name, netns?, adoptFd?)");
    name_ = info[0].As<Napi::String>().Utf8Value();
    if (name_.empty() || name_.size() >= IFNAMSIZ)
      throw Napi::TypeError::New(env, "interface name must be 1-15 bytes");
    std::string netns;
    if (info.Length() > 1 && info[1].IsString()) netns = info[1].As<Napi::String>().Utf8Value();
    netns_ = netns;
    if (info.Length() > 2 && info[2].IsNumber()) {
      int fd = info[2].As<Napi::Number>().Int32Value();
      if (fd < 0) throw Napi::RangeError::New(env, "adoptFd must be a descriptor");
      int err = 0;
      tsvs::InNetns(env, netns, [&]() {
        ctl_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (ctl_ < 0) err = errno;
        return ctl_;
      });
      if (ctl_ < 0) throw tsvs::ErrnoError(env, err, "socket", name_);
      fd_ = fd;
      adopted_ = true;
      return;
    }
    {
      const std::string key = ClosingKey(netns, name_);
      std::unique_lock<std::mutex> lk(g_closingMu);
      g_closingCv.wait(lk, [&]() { return g_closing.count(key) == 0; });
    }
    const char *failed = nullptr;
    int err = 0;
    struct ifreq ifr;
    tsvs::InNetns(env, netns, [&]() {
      fd_ = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd_ < 0) {
        failed = "open";
        err = errno;
        return -1;
      }
      memset(&ifr, 0, sizeof ifr);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
      strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
      if (ioctl(fd_, TUNSETIFF, &ifr) < 0) {
        failed = "ioctl(TUNSETIFF)";
        err = errno;
        return -1;
      }
      ctl_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (ctl_ < 0) {
        failed = "socket";
        err = errno;
        return -1;
      }
      return 0;
    });
    if (failed != nullptr) {
      Release();
      throw tsvs::ErrnoError(env, err, failed, name_);
    }
    name_ = ifr.ifr_name;
  }

  ~TapDevice() { Release(false); }

private:
  void Check(Napi::Env env) {
    if (fd_ < 0) throw Napi::Error::New(env, name_ + ": TAP device is closed");
  }

  Napi::Value Fd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Name(const Napi::CallbackInfo &info) {
    return Napi::String::New(info.Env(), name_);
  }

  template <typename T>
  static T *Arr(const Napi::CallbackInfo &info, size_t i, napi_typedarray_type type,
                size_t *len) {
    if (info.Length() <= i || !info[i].IsTypedArray())
      throw Napi::TypeError::New(info.Env(), "typed array expected");
    Napi::TypedArray a = info[i].As<Napi::TypedArray>();
    if (a.TypedArrayType() != type) throw Napi::TypeError::New(info.Env(), "wrong array type");
    *len = a.ElementLength();
    return reinterpret_cast<T *>(static_cast<uint8_t *>(a.ArrayBuffer().Data()) +
                                 a.ByteOffset());
  }

  // read(buf, slotSize, max, offs, lens): up to `max` frames, frame i at buf[i*slotSize];
  // a frame longer than the slot is cut to the slot (lens[i] = slotSize + 1 marks it).
  Napi::Value Read(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    size_t blen, olen, llen;
    uint8_t *buf = Arr<uint8_t>(info, 0, napi_uint8_array, &blen);
    size_t slot = info[1].As<Napi::Number>().Uint32Value();
    size_t max = info[2].As<Napi::Number>().Uint32Value();
    int32_t *offs = Arr<int32_t>(info, 3, napi_int32_array, &olen);
    int32_t *lens = Arr<int32_t>(info, 4, napi_int32_array, &llen);
    if (slot == 0) throw Napi::RangeError::New(env, "slotSize must be > 0");
    if (max > olen) max = olen;
    if (max > llen) max = llen;
    if (max > static_cast<size_t>(kTapMaxBatch)) max = kTapMaxBatch;
    if (max > blen / slot) max = blen / slot;
    size_t n = 0;
    while (n < max) {
      ssize_t r = read(fd_, buf + n * slot, slot);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (n > 0) break;
        throw tsvs::ErrnoError(env, errno, "read", name_);
      }
      offs[n] = static_cast<int32_t>(n * slot);
      lens[n] = static_cast<int32_t>(r);
      n++;
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // write(bufs, offs, lens, count): bufs one Uint8Array or an array of them (frame i in
  // bufs[i]). Stops at the first frame the device cannot take (EAGAIN: queue full; EIO: the
  // interface is down) and returns the number of frames before it (a frame the driver rejects
  // otherwise is skipped and counted); the caller decides what the rest costs (it can re-read
  // the flags to tell a down device from a full one).
  Napi::Value Write(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    size_t olen, llen;
    int32_t *offs = Arr<int32_t>(info, 1, napi_int32_array, &olen);
    int32_t *lens = Arr<int32_t>(info, 2, napi_int32_array, &llen);
    size_t count = info[3].As<Napi::Number>().Uint32Value();
    if (count > olen) count = olen;
    if (count > llen) count = llen;
    bool single = info[0].IsTypedArray();
    Napi::Array arr;
    if (!single) {
      if (!info[0].IsArray()) throw Napi::TypeError::New(env, "bufs must be a Uint8Array or array");
      arr = info[0].As<Napi::Array>();
    }
    size_t n = 0;
    lastErrno_ = 0;
    for (; n < count; n++) {
      Napi::Value v = single ? info[0] : arr.Get(static_cast<uint32_t>(n));
      if (!v.IsTypedArray()) throw Napi::TypeError::New(env, "frame buffer expected");
      Napi::Uint8Array b = v.As<Napi::Uint8Array>();
      size_t off = static_cast<size_t>(offs[n]), len = static_cast<size_t>(lens[n]);
      if (off + len > b.ByteLength()) throw Napi::RangeError::New(env, "frame out of bounds");
      ssize_t r;
      do {
        r = write(fd_, b.Data() + off, len);
      } while (r < 0 && errno == EINTR);
      if (r < 0) {
        lastErrno_ = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EIO) break;
        continue;  // a frame the driver rejects (EINVAL...): skipped
      }
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value StartPoll(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (info.Length() < 1 || !info[0].IsFunction())
      throw Napi::TypeError::New(env, "startPoll(cb)");
    cb_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (!poll_) {
      uv_loop_t *loop = nullptr;
      if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr)
        throw Napi::Error::New(env, "no libuv loop");
      poll_ = new uv_poll_t;
      int r = uv_poll_init(loop, poll_, fd_);
      if (r < 0) {
        delete poll_;
        poll_ = nullptr;
        throw tsvs::ErrnoError(env, -r, "uv_poll_init", name_);
      }
      poll_->data = this;
      asyncCtx_ = std::make_unique<Napi::AsyncContext>(env, "tsvs.TapDevice", Value());
    }
    int r = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (r < 0) throw tsvs::ErrnoError(env, -r, "uv_poll_start", name_);
    if (!polling_) {
      polling_ = true;
      Ref();
    }
    return env.Undefined();
  }

  Napi::Value StopPoll(const Napi::CallbackInfo &info) {
    StopPolling();
    return info.Env().Undefined();
  }

  void StopPolling() {
    if (poll_ && polling_) uv_poll_stop(poll_);
    if (polling_) {
      polling_ = false;
      Unref();
    }
  }

  static void OnPoll(uv_poll_t *h, int status, int) {
    TapDevice *self = static_cast<TapDevice *>(h->data);
    if (self == nullptr || !self->polling_ || self->cb_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->cb_.MakeCallback(self->Value(), {Napi::Number::New(env, status)}, *self->asyncCtx_);
    } catch (const Napi::Error &e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  void Ifreq(struct ifreq *ifr) {
    memset(ifr, 0, sizeof *ifr);
    strncpy(ifr->ifr_name, name_.c_str(), IFNAMSIZ - 1);
  }

  void Ioctl(Napi::Env env, unsigned long req, struct ifreq *ifr, const char *what) {
    Check(env);
    if (ioctl(ctl_, req, ifr) < 0) throw tsvs::ErrnoError(env, errno, what, name_);
  }

  Napi::Value GetFlags(const Napi::CallbackInfo &info) {
    struct ifreq ifr;
    Ifreq(&ifr);
    Ioctl(info.Env(), SIOCGIFFLAGS, &ifr, "ioctl(SIOCGIFFLAGS)");
    return Napi::Number::New(info.Env(), ifr.ifr_flags & 0xffff);
  }

  // setFlags(set, clear)
  Napi::Value SetFlags(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int set = info[0].As<Napi::Number>().Int32Value();
    int clear = info[1].As<Napi::Number>().Int32Value();
    struct ifreq ifr;
    Ifreq(&ifr);
    Ioctl(env, SIOCGIFFLAGS, &ifr, "ioctl(SIOCGIFFLAGS)");
    ifr.ifr_flags = static_cast<short>((ifr.ifr_flags | set) & ~clear);
    Ioctl(env, SIOCSIFFLAGS, &ifr, "ioctl(SIOCSIFFLAGS)");
    return env.Undefined();
  }

  Napi::Value GetMtu(const Napi::CallbackInfo &info) {
    struct ifreq ifr;
    Ifreq(&ifr);
    Ioctl(info.Env(), SIOCGIFMTU, &ifr, "ioctl(SIOCGIFMTU)");
    return Napi::Number::New(info.Env(), ifr.ifr_mtu);
  }

  Napi::Value SetMtu(const Napi::CallbackInfo &info) {
    struct ifreq ifr;
    Ifreq(&ifr);
    ifr.ifr_mtu = info[0].As<Napi::Number>().Int32Value();
    Ioctl(info.Env(), SIOCSIFMTU, &ifr, "ioctl(SIOCSIFMTU)");
    return info.Env().Undefined();
  }

  Napi::Value GetMac(const Napi::CallbackInfo &info) {
    struct ifreq ifr;
    Ifreq(&ifr);
    Ioctl(info.Env(), SIOCGIFHWADDR, &ifr, "ioctl(SIOCGIFHWADDR)");
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), 6);
    memcpy(out.Data(), ifr.ifr_hwaddr.sa_data, 6);
    return out;
  }

  Napi::Value SetMac(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray())
      throw Napi::TypeError::New(env, "setMac(Uint8Array(6))");
    Napi::Uint8Array m = info[0].As<Napi::Uint8Array>();
    if (m.ByteLength() != 6) throw Napi::RangeError::New(env, "a MAC has 6 bytes");
    struct ifreq ifr;
    Ifreq(&ifr);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, m.Data(), 6);
    Ioctl(env, SIOCSIFHWADDR, &ifr, "ioctl(SIOCSIFHWADDR)");
    return env.Undefined();
  }

  Napi::Value GetIfindex(const Napi::CallbackInfo &info) {
    struct ifreq ifr;
    Ifreq(&ifr);
    Ioctl(info.Env(), SIOCGIFINDEX, &ifr, "ioctl(SIOCGIFINDEX)");
    return Napi::Number::New(info.Env(), ifr.ifr_ifindex);
  }

  // close(): the descriptor is closed on a libuv worker thread: closing a TAP descriptor
  // unregisters the device, which waits for the kernel's RCU grace periods (tens of ms) and
  // must not stall the event loop (500 ports would block it for seconds).
  Napi::Value Close(const Napi::CallbackInfo &info) {
    Release(true);
    return info.Env().Undefined();
  }

  struct CloseReq {
    uv_work_t work;
    int fd;
    std::string key;
  };

  static void CloseInWorker(int fd, uv_loop_t *loop, const std::string &key) {
    if (loop == nullptr) {
      close(fd);
      return;
    }
    CloseReq *r = new CloseReq;
    r->fd = fd;
    r->key = key;
    r->work.data = r;
    {
      std::lock_guard<std::mutex> lk(g_closingMu);
      g_closing.insert(key);
    }
    int rc = uv_queue_work(
        loop, &r->work,
        [](uv_work_t *w) {
          CloseReq *req = static_cast<CloseReq *>(w->data);
          close(req->fd);
          std::lock_guard<std::mutex> lk(g_closingMu);
          auto it = g_closing.find(req->key);
          if (it != g_closing.end()) g_closing.erase(it);
          g_closingCv.notify_all();
        },
        [](uv_work_t *w, int) { delete static_cast<CloseReq *>(w->data); });
    if (rc != 0) {
      close(fd);
      std::lock_guard<std::mutex> lk(g_closingMu);
      auto it = g_closing.find(key);
      if (it != g_closing.end()) g_closing.erase(it);
      g_closingCv.notify_all();
      delete r;
    }
  }

  void Release(bool async = false) {
    if (polling_) StopPolling();
    cb_.Reset();
    if (poll_) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t *>(poll_),
               [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
      poll_ = nullptr;
    }
    asyncCtx_.reset();
    if (fd_ >= 0 && adopted_) {
      fd_ = -1;  // the owner's descriptor: left open
    } else if (fd_ >= 0) {
      uv_loop_t *loop = nullptr;
      if (async && napi_get_uv_event_loop(Env(), &loop) != napi_ok) loop = nullptr;
      CloseInWorker(fd_, async ? loop : nullptr, ClosingKey(netns_, name_));
      fd_ = -1;
    }
    if (ctl_ >= 0) {
      close(ctl_);
      ctl_ = -1;
    }
  }

  std::string name_;
  std::string netns_;
  int fd_ = -1;
  int ctl_ = -1;
  int lastErrno_ = 0;
  bool adopted_ = false;
  uv_poll_t *poll_ = nullptr;
  bool polling_ = false;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> asyncCtx_;
};

} // namespace

/** The TapDevice class, registered by the addon's Init (afpacket.cc). */
Napi::Function DefineTapDevice(Napi::Env env) { return TapDevice::Define(env); }
