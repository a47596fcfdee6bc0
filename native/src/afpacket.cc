// tsvswitch native addon: AF_PACKET sockets for the userspace datapath.
//
// Mechanism only; every policy decision (slot sizes, what to drop, how to count, when to poll)
// is taken by datapath/netdev-afpacket.ts. One PacketSocket wraps one SOCK_RAW/ETH_P_ALL socket
// bound to one interface. Frames move in batches with one syscall per batch (recvmmsg /
// sendmmsg) between the kernel and memory that JavaScript owns (typed arrays the caller
// passes in), so the hot path allocates nothing per packet. Readiness is a libuv poll handle
// on the socket calling a JS function. No global state: the addon is safe to load in several
// worker threads.

#include <napi.h>
#include <uv.h>

#include "netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <linux/sockios.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

// Defined in tap.cc.
Napi::Function DefineTapDevice(Napi::Env env);
// Defined in wakefd.cc.
void DefineWakeFd(Napi::Env env, Napi::Object exports);
// Defined in busyread.cc.
void DefineBusyRead(Napi::Env env, Napi::Object exports);

namespace {
using tsvs::ErrnoError;
using tsvs::InNetns;

// Largest batch one recv/send call handles (callers loop for more).
constexpr int kMaxBatch = 256;

// Bits of the per-frame metadata word written by recv() (low 8 bits: sll_pkttype).
constexpr int kMetaVlanRestored = 1 << 8;  // an 802.1Q/802.1ad tag was re-inserted
constexpr int kMetaTruncated = 1 << 9;     // the frame did not fit its slot; len = full length
// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++ here): what a
// PACKET_VNET_HDR socket expects in front of each frame. Native byte order on x86/arm.
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type; // VIRTIO_NET_HDR_GSO_NONE
  uint16_t hdr_len; // bytes to put in the socket buffer's linear part
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10, "virtio_net_hdr is 10 bytes");

constexpr int kMetaCsumNotReady = 1 << 10; // TP_STATUS_CSUMNOTREADY: L4 checksum unfinished
constexpr int kMetaCsumValid = 1 << 11;    // TP_STATUS_CSUM_VALID

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif


class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "PacketSocket",
        {
            InstanceAccessor<&PacketSocket::GetFd>("fd"),
            InstanceAccessor<&PacketSocket::GetIfindex>("ifindex"),
            InstanceAccessor<&PacketSocket::GetLastErrno>("lastErrno"),
            InstanceAccessor<&PacketSocket::GetLastSentBytes>("lastSentBytes"),
            InstanceMethod<&PacketSocket::Recv>("recv"),
            InstanceMethod<&PacketSocket::Send>("send"),
            InstanceMethod<&PacketSocket::StartPoll>("startPoll"),
            InstanceMethod<&PacketSocket::StopPoll>("stopPoll"),
            InstanceMethod<&PacketSocket::GetFlags>("getFlags"),
            InstanceMethod<&PacketSocket::SetFlags>("setFlags"),
            InstanceMethod<&PacketSocket::GetLink>("getLink"),
            InstanceMethod<&PacketSocket::GetMtu>("getMtu"),
            InstanceMethod<&PacketSocket::SetMtu>("setMtu"),
            InstanceMethod<&PacketSocket::GetMac>("getMac"),
            InstanceMethod<&PacketSocket::SetMac>("setMac"),
            InstanceMethod<&PacketSocket::GetName>("getName"),
            InstanceMethod<&PacketSocket::Statistics>("statistics"),
            InstanceMethod<&PacketSocket::SetupRing>("setupRing"),
            InstanceMethod<&PacketSocket::RingRecv>("ringRecv"),
            InstanceMethod<&PacketSocket::RingResync>("ringResync"),
            InstanceMethod<&PacketSocket::RingRelease>("ringRelease"),
            InstanceMethod<&PacketSocket::RingPosition>("ringPosition"),
            InstanceMethod<&PacketSocket::RingSeek>("ringSeek"),
            InstanceMethod<&PacketSocket::CreateTxRing>("createTxRing"),
            InstanceMethod<&PacketSocket::MapTxRing>("mapTxRing"),
            InstanceMethod<&PacketSocket::TxRingSend>("txRingSend"),
            InstanceMethod<&PacketSocket::Close>("close"),
        });
  }

  // new PacketSocket(ifname, { netns?, promisc?, ignoreOutgoing?, auxdata?, qdiscBypass?,
  //                             rcvbuf?, sndbuf?, adoptFd? })
  //
  // adoptFd: do I/O on a descriptor another PacketSocket (e.g. on the main thread) opened and
  // bound: no socket, no bind, no option changes, and close() never closes the descriptor.
  PacketSocket(const Napi::CallbackInfo &info) : Napi::ObjectWrap<PacketSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString())
      throw Napi::TypeError::New(env, "PacketSocket(ifname, options?)");
    ifname_ = info[0].As<Napi::String>().Utf8Value();
    if (ifname_.empty() || ifname_.size() >= IFNAMSIZ)
      throw Napi::RangeError::New(env, "bad interface name");
    Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>()
                                                                : Napi::Object::New(env);
    std::string netns = StrOpt(opts, "netns");
    bool promisc = BoolOpt(opts, "promisc", true);
    bool ignoreOut = BoolOpt(opts, "ignoreOutgoing", true);
    bool auxdata = BoolOpt(opts, "auxdata", true);
    bool bypass = BoolOpt(opts, "qdiscBypass", false);
    int rcvbuf = IntOpt(opts, "rcvbuf", 0);
    int sndbuf = IntOpt(opts, "sndbuf", 0);
    int adopt = IntOpt(opts, "adoptFd", -1);
    if (adopt >= 0) {
      Adopt(env, adopt);
      return;
    }
    if (BoolOpt(opts, "txOnly", false)) {
      OpenTxOnly(env, netns, sndbuf);
      return;
    }

    int fd = InNetns(env, netns, [] {
      return socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    });
    if (fd < 0) throw ErrnoError(env, errno, "socket", "AF_PACKET");
    fd_ = fd;
    try {
      struct ifreq ifr;
      PrepIfreq(&ifr);
      if (ioctl(fd_, SIOCGIFINDEX, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
      ifindex_ = ifr.ifr_ifindex;

      int one = 1;
      if (auxdata && setsockopt(fd_, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_AUXDATA");
      // PACKET_IGNORE_OUTGOING exists since Linux 4.20; older kernels report frames other
      // sockets transmit as PACKET_OUTGOING, which the caller can still filter by pkttype.
      if (ignoreOut &&
          setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 &&
          errno != ENOPROTOOPT)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_IGNORE_OUTGOING");
      if (bypass && setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_QDISC_BYPASS");
      if (rcvbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
          setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        throw ErrnoError(env, errno, "setsockopt", "SO_RCVBUF");
      if (sndbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0 &&
          setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
        throw ErrnoError(env, errno, "setsockopt", "SO_SNDBUF");

      struct sockaddr_ll sll;
      memset(&sll, 0, sizeof sll);
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(ETH_P_ALL);
      sll.sll_ifindex = ifindex_;
      if (bind(fd_, reinterpret_cast<struct sockaddr *>(&sll), sizeof sll) < 0)
        throw ErrnoError(env, errno, "bind", ifname_);

      if (promisc) {
        // Refcounted by the kernel and dropped when the socket closes, unlike IFF_PROMISC.
        struct packet_mreq mr;
        memset(&mr, 0, sizeof mr);
        mr.mr_ifindex = ifindex_;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
          throw ErrnoError(env, errno, "setsockopt", "PACKET_ADD_MEMBERSHIP");
      }
    } catch (...) {
      close(fd_);
      fd_ = -1;
      throw;
    }
    InitMsgs();
  }

  ~PacketSocket() override { Release(); }

private:
  // Adopted descriptor: the interface index comes from the socket's bound address.
  void Adopt(Napi::Env env, int fd) {
    struct sockaddr_ll sll;
    socklen_t len = sizeof sll;
    memset(&sll, 0, sizeof sll);
    if (getsockname(fd, reinterpret_cast<struct sockaddr *>(&sll), &len) < 0)
      throw ErrnoError(env, errno, "getsockname", ifname_);
    if (sll.sll_family != AF_PACKET)
      throw Napi::TypeError::New(env, "adoptFd: not an AF_PACKET socket");
    fd_ = fd;
    adopted_ = true;
    ifindex_ = sll.sll_ifindex;
    InitMsgs();
  }

  // A socket that only transmits, through a TPACKET_V2 tx ring (createTxRing): protocol 0, so
  // the kernel delivers it nothing; PACKET_VNET_HDR, so each ring frame says how many bytes go
  // into the socket buffer's linear part (all of a small frame: no page fragments for the
  // receiver to pull); PACKET_LOSS, so a frame the kernel rejects is skipped, not retried.
  void OpenTxOnly(Napi::Env env, const std::string &netns, int sndbuf) {
    int fd = InNetns(env, netns, [] {
      return socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    });
    if (fd < 0) throw ErrnoError(env, errno, "socket", "AF_PACKET (tx)");
    fd_ = fd;
    try {
      struct ifreq ifr;
      PrepIfreq(&ifr);
      if (ioctl(fd_, SIOCGIFINDEX, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
      ifindex_ = ifr.ifr_ifindex;
      int one = 1;
      if (setsockopt(fd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_VNET_HDR");
      if (setsockopt(fd_, SOL_PACKET, PACKET_LOSS, &one, sizeof one) < 0)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_LOSS");
      if (sndbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0 &&
          setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
        throw ErrnoError(env, errno, "setsockopt", "SO_SNDBUF");
      struct sockaddr_ll sll;
      memset(&sll, 0, sizeof sll);
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = 0;
      sll.sll_ifindex = ifindex_;
      if (bind(fd_, reinterpret_cast<struct sockaddr *>(&sll), sizeof sll) < 0)
        throw ErrnoError(env, errno, "bind", ifname_);
    } catch (...) {
      close(fd_);
      fd_ = -1;
      throw;
    }
    InitMsgs();
  }

  // Block geometry shared by the rx and tx rings: blocks of at least 64 KiB and whole pages,
  // each holding whole frames. Returns false for a bad frame size or count.
  static bool RingGeometry(int64_t *fsz, int64_t fcount, int64_t *bsz, int64_t *perBlock,
                           int64_t *blocks) {
    const long page = sysconf(_SC_PAGESIZE);
    *fsz = (*fsz + TPACKET_ALIGNMENT - 1) & ~static_cast<int64_t>(TPACKET_ALIGNMENT - 1);
    if (*fsz < static_cast<int64_t>(TPACKET2_HDRLEN) + 64 || *fsz > (1 << 20) || fcount < 8 ||
        fcount > (1 << 20))
      return false;
    *bsz = ((std::max<int64_t>(*fsz, 65536) + page - 1) / page) * page;
    *perBlock = *bsz / *fsz;
    *blocks = (fcount + *perBlock - 1) / *perBlock;
    return true;
  }

  void InitMsgs() {
    for (int i = 0; i < kMaxBatch; i++) {
      struct msghdr &h = rxmsg_[i].msg_hdr;
      memset(&h, 0, sizeof h);
      h.msg_iov = &rxiov_[i];
      h.msg_iovlen = 1;
      struct msghdr &t = txmsg_[i].msg_hdr;
      memset(&t, 0, sizeof t);
      t.msg_iov = &txiov_[i];
      t.msg_iovlen = 1;
    }
  }

  static std::string StrOpt(Napi::Object o, const char *k) {
    Napi::Value v = o.Get(k);
    return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  }
  static bool BoolOpt(Napi::Object o, const char *k, bool dflt) {
    Napi::Value v = o.Get(k);
    return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
  }
  static int IntOpt(Napi::Object o, const char *k, int dflt) {
    Napi::Value v = o.Get(k);
    return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
  }

  void PrepIfreq(struct ifreq *ifr) {
    memset(ifr, 0, sizeof *ifr);
    memcpy(ifr->ifr_name, ifname_.data(), ifname_.size());
  }

  void Check(Napi::Env env) {
    if (fd_ < 0) throw Napi::Error::New(env, "PacketSocket " + ifname_ + " is closed");
  }

  // Borrowed view of a Uint8Array/Int32Array argument.
  template <typename T>
  static T *ArrayArg(const Napi::CallbackInfo &info, size_t i, napi_typedarray_type type,
                     size_t *len, const char *what) {
    Napi::Value v = info[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
      throw Napi::TypeError::New(info.Env(), std::string(what) + " has the wrong type");
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    *len = ta.ElementLength();
    return reinterpret_cast<T *>(static_cast<uint8_t *>(ta.ArrayBuffer().Data()) +
                                 ta.ByteOffset());
  }

  // The arguments (bufs, offs, lens, count, ...) of a send, at least `nargs` of them: sets
  // offs and lens, returns count after checking it fits both.
  static int64_t BatchArgs(const Napi::CallbackInfo &info, size_t nargs, const char *what,
                           int32_t **offs, int32_t **lens) {
    Napi::Env env = info.Env();
    if (info.Length() < nargs)
      throw Napi::TypeError::New(env, std::string(what) + ": " + std::to_string(nargs) +
                                          " arguments");
    size_t offsLen, lensLen;
    *offs = ArrayArg<int32_t>(info, 1, napi_int32_array, &offsLen, "offs");
    *lens = ArrayArg<int32_t>(info, 2, napi_int32_array, &lensLen, "lens");
    int64_t count = info[3].As<Napi::Number>().Int64Value();
    if (count < 0 || count > static_cast<int64_t>(offsLen) ||
        count > static_cast<int64_t>(lensLen))
      throw Napi::RangeError::New(env, std::string(what) + ": bad count");
    return count;
  }

  // The frames of a send: one Uint8Array all frames are in, or an array of them (one each).
  class FrameSource {
  public:
    FrameSource(const Napi::CallbackInfo &info, size_t i, int64_t count, const char *what)
        : env_(info.Env()), what_(what) {
      Napi::Value b = info[i];
      one_ = b.IsTypedArray();
      if (one_) {
        base_ = ArrayArg<uint8_t>(info, i, napi_uint8_array, &baseLen_, "bufs");
      } else if (b.IsArray()) {
        arr_ = b.As<Napi::Array>();
        if (arr_.Length() < count)
          throw Napi::RangeError::New(env_, std::string(what) + ": bufs too short");
      } else {
        throw Napi::TypeError::New(
            env_, std::string(what) + ": bufs must be a Uint8Array or an array of them");
      }
    }
    // The buffer frame j is in, and its length.
    uint8_t *Get(int64_t j, size_t *len) {
      if (one_) {
        *len = baseLen_;
        return base_;
      }
      Napi::Value e = arr_.Get(static_cast<uint32_t>(j));
      if (!e.IsTypedArray() || e.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw Napi::TypeError::New(env_, std::string(what_) + ": bufs[i] must be a Uint8Array");
      Napi::Uint8Array u = e.As<Napi::Uint8Array>();
      *len = u.ElementLength();
      return u.Data();
    }

  private:
    Napi::Env env_;
    const char *what_;
    bool one_ = false;
    Napi::Array arr_;
    uint8_t *base_ = nullptr;
    size_t baseLen_ = 0;
  };

  Napi::Value GetFd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetIfindex(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), ifindex_);
  }
  Napi::Value GetLastErrno(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), lastErrno_);
  }
  Napi::Value GetLastSentBytes(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), static_cast<double>(lastSentBytes_));
  }

  // recv(buf: Uint8Array, slotSize, headroom, max, offs: Int32Array, lens: Int32Array,
  //      meta: Int32Array) -> count
  //
  // Slot i is buf[i*slotSize, (i+1)*slotSize); the kernel writes frame i at
  // slot + headroom. When auxdata says the kernel stripped a VLAN tag, the 12 address bytes
  // are moved 4 bytes left and the tag written after them, so the frame starts at
  // slot + headroom - 4 (headroom must be >= 4 for that). offs[i]/lens[i] give the frame's
  // offset in buf and length; meta[i] the pkttype and kMeta* bits. A truncated frame has
  // kMetaTruncated and its full length in lens[i]. Returns 0 when nothing is waiting.
  Napi::Value Recv(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (info.Length() < 7) throw Napi::TypeError::New(env, "recv: 7 arguments");
    size_t bufLen, offsLen, lensLen, metaLen;
    uint8_t *buf = ArrayArg<uint8_t>(info, 0, napi_uint8_array, &bufLen, "buf");
    int64_t slot = info[1].As<Napi::Number>().Int64Value();
    int64_t headroom = info[2].As<Napi::Number>().Int64Value();
    int64_t max = info[3].As<Napi::Number>().Int64Value();
    int32_t *offs = ArrayArg<int32_t>(info, 4, napi_int32_array, &offsLen, "offs");
    int32_t *lens = ArrayArg<int32_t>(info, 5, napi_int32_array, &lensLen, "lens");
    int32_t *meta = ArrayArg<int32_t>(info, 6, napi_int32_array, &metaLen, "meta");
    if (slot <= headroom || headroom < 0 || slot > (1 << 20))
      throw Napi::RangeError::New(env, "recv: bad slot size or headroom");
    if (max > kMaxBatch) max = kMaxBatch;
    if (max > static_cast<int64_t>(bufLen / slot)) max = bufLen / slot;
    if (max > static_cast<int64_t>(offsLen)) max = offsLen;
    if (max > static_cast<int64_t>(lensLen)) max = lensLen;
    if (max > static_cast<int64_t>(metaLen)) max = metaLen;
    if (max <= 0) return Napi::Number::New(env, 0);

    const size_t cap = slot - headroom;
    for (int i = 0; i < max; i++) {
      rxiov_[i].iov_base = buf + i * slot + headroom;
      rxiov_[i].iov_len = cap;
      struct msghdr &h = rxmsg_[i].msg_hdr;
      h.msg_name = &rxaddr_[i];
      h.msg_namelen = sizeof rxaddr_[i];
      h.msg_control = rxctl_[i].buf;
      h.msg_controllen = sizeof rxctl_[i].buf;
      h.msg_flags = 0;
    }
    int n = recvmmsg(fd_, rxmsg_, max, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Napi::Number::New(env, 0);
      throw ErrnoError(env, errno, "recvmmsg", ifname_);
    }
    for (int i = 0; i < n; i++) {
      struct msghdr &h = rxmsg_[i].msg_hdr;
      uint8_t *frame = buf + i * slot + headroom;
      size_t len = rxmsg_[i].msg_len;
      int m = rxaddr_[i].sll_pkttype & 0xff;
      if ((h.msg_flags & MSG_TRUNC) || len > cap) {
        m |= kMetaTruncated;
        offs[i] = i * slot + headroom;
        lens[i] = static_cast<int32_t>(len);
        meta[i] = m;
        continue;
      }
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
            c->cmsg_len < CMSG_LEN(sizeof(struct tpacket_auxdata)))
          continue;
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(c), sizeof aux);
        if (aux.tp_status & TP_STATUS_CSUMNOTREADY) m |= kMetaCsumNotReady;
        if (aux.tp_status & TP_STATUS_CSUM_VALID) m |= kMetaCsumValid;
        if (((aux.tp_status & TP_STATUS_VLAN_VALID) || aux.tp_vlan_tci != 0) && len >= 12 &&
            headroom >= 4) {
          uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid
                                                                      : ETH_P_8021Q;
          memmove(frame - 4, frame, 12);
          frame -= 4;
          frame[12] = tpid >> 8;
          frame[13] = tpid & 0xff;
          frame[14] = aux.tp_vlan_tci >> 8;
          frame[15] = aux.tp_vlan_tci & 0xff;
          len += 4;
          m |= kMetaVlanRestored;
        }
      }
      offs[i] = static_cast<int32_t>(frame - buf);
      lens[i] = static_cast<int32_t>(len);
      meta[i] = m;
    }
    return Napi::Number::New(env, n);
  }

  // send(bufs: Uint8Array | Uint8Array[], offs: Int32Array, lens: Int32Array, count, first?)
  //   -> sent
  //
  // Sends frames first (default 0) to count-1. Frame i is bufs[offs[i], offs[i]+lens[i]) (or
  // bufs[i][...] when bufs is an array). Frames
  // the kernel refuses (EMSGSIZE, ENETDOWN, ...) are skipped and the rest still sent; a full
  // queue (EAGAIN/ENOBUFS) ends the call. Returns the number sent; lastErrno holds the last
  // refusal's errno (0 if none) and lastSentBytes the bytes of the frames sent.
  Napi::Value Send(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    int32_t *offs, *lens;
    int64_t count = BatchArgs(info, 4, "send", &offs, &lens);
    int64_t first = info.Length() > 4 ? info[4].As<Napi::Number>().Int64Value() : 0;
    if (first < 0 || first > count) throw Napi::RangeError::New(env, "send: bad first");
    FrameSource src(info, 0, count, "send");
    lastErrno_ = 0;
    lastSentBytes_ = 0;
    int64_t sent = 0;
    int64_t i = first;
    while (i < count) {
      int k = 0;
      for (; k < kMaxBatch && i + k < count; k++) {
        int64_t j = i + k;
        size_t plen;
        uint8_t *p = src.Get(j, &plen);
        int32_t o = offs[j], l = lens[j];
        if (o < 0 || l < 0 || static_cast<size_t>(o) + static_cast<size_t>(l) > plen)
          throw Napi::RangeError::New(env, "send: frame outside its buffer");
        txiov_[k].iov_base = p + o;
        txiov_[k].iov_len = l;
      }
      int r = sendmmsg(fd_, txmsg_, k, MSG_DONTWAIT);
      if (r > 0) {
        for (int q = 0; q < r; q++) lastSentBytes_ += txiov_[q].iov_len;
        sent += r;
        i += r;
        continue;
      }
      int e = r < 0 ? errno : EAGAIN;
      if (e == EINTR) continue;
      lastErrno_ = e;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) break;
      i++; // this frame is refused (too big, link down, ...); try the rest
    }
    return Napi::Number::New(env, static_cast<double>(sent));
  }

  // startPoll(cb): calls cb() from the event loop whenever the socket is readable (level
  // triggered) until stopPoll() or close().
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
      int r = uv_poll_init_socket(loop, poll_, fd_);
      if (r < 0) {
        delete poll_;
        poll_ = nullptr;
        throw ErrnoError(env, -r, "uv_poll_init", ifname_);
      }
      poll_->data = this;
      asyncCtx_ = std::make_unique<Napi::AsyncContext>(env, "tsvs.PacketSocket", Value());
    }
    int r = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (r < 0) throw ErrnoError(env, -r, "uv_poll_start", ifname_);
    if (!polling_) {
      polling_ = true;
      Ref(); // keep this object alive while the loop can call into it
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

  static void OnPoll(uv_poll_t *h, int status, int events) {
    PacketSocket *self = static_cast<PacketSocket *>(h->data);
    if (self == nullptr || !self->polling_ || self->cb_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->cb_.MakeCallback(self->Value(), {Napi::Number::New(env, status)},
                             *self->asyncCtx_);
    } catch (const Napi::Error &e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value GetFlags(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct ifreq ifr;
    PrepIfreq(&ifr);
    if (ioctl(fd_, SIOCGIFFLAGS, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    return Napi::Number::New(env, static_cast<uint16_t>(ifr.ifr_flags));
  }

  // setFlags(set, clear): sets then clears IFF_* bits (e.g. IFF_UP).
  Napi::Value SetFlags(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    int set = info[0].As<Napi::Number>().Int32Value();
    int clear = info[1].As<Napi::Number>().Int32Value();
    struct ifreq ifr;
    PrepIfreq(&ifr);
    if (ioctl(fd_, SIOCGIFFLAGS, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    ifr.ifr_flags = static_cast<short>((ifr.ifr_flags | set) & ~clear);
    if (ioctl(fd_, SIOCSIFFLAGS, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    return env.Undefined();
  }

  // getLink() -> 1 (carrier), 0 (none) or -1 (the driver cannot tell): ETHTOOL_GLINK, which
  // reads the carrier at once, while IFF_RUNNING follows it through the kernel's deferred
  // link-watch work.
  Napi::Value GetLink(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct ethtool_value ev;
    memset(&ev, 0, sizeof ev);
    ev.cmd = ETHTOOL_GLINK;
    struct ifreq ifr;
    PrepIfreq(&ifr);
    ifr.ifr_data = reinterpret_cast<char *>(&ev);
    if (ioctl(fd_, SIOCETHTOOL, &ifr) < 0) {
      if (errno == EOPNOTSUPP || errno == ENOTSUP || errno == EINVAL)
        return Napi::Number::New(env, -1);
      throw ErrnoError(env, errno, "ioctl", ifname_);
    }
    return Napi::Number::New(env, ev.data ? 1 : 0);
  }

  Napi::Value GetMtu(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct ifreq ifr;
    PrepIfreq(&ifr);
    if (ioctl(fd_, SIOCGIFMTU, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    return Napi::Number::New(env, ifr.ifr_mtu);
  }

  Napi::Value SetMtu(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct ifreq ifr;
    PrepIfreq(&ifr);
    ifr.ifr_mtu = info[0].As<Napi::Number>().Int32Value();
    if (ioctl(fd_, SIOCSIFMTU, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    return env.Undefined();
  }

  Napi::Value GetMac(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct ifreq ifr;
    PrepIfreq(&ifr);
    if (ioctl(fd_, SIOCGIFHWADDR, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, 6);
    memcpy(out.Data(), ifr.ifr_hwaddr.sa_data, 6);
    return out;
  }

  Napi::Value SetMac(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (info.Length() < 1 || !info[0].IsTypedArray())
      throw Napi::TypeError::New(env, "setMac(Uint8Array(6))");
    size_t n;
    uint8_t *mac = ArrayArg<uint8_t>(info, 0, napi_uint8_array, &n, "mac");
    if (n != 6) throw Napi::RangeError::New(env, "an Ethernet address has 6 bytes");
    struct ifreq ifr;
    PrepIfreq(&ifr);
    ifr.ifr_hwaddr.sa_family = 1; // ARPHRD_ETHER
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (ioctl(fd_, SIOCSIFHWADDR, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    return env.Undefined();
  }

  // The interface's current name (looked up by ifindex, so a rename shows).
  Napi::Value GetName(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_ifindex = ifindex_;
    if (ioctl(fd_, SIOCGIFNAME, &ifr) < 0) throw ErrnoError(env, errno, "ioctl", ifname_);
    return Napi::String::New(env, ifr.ifr_name);
  }

  // statistics() -> [packets, drops] counted by the kernel since the previous call
  // (PACKET_STATISTICS resets on read).
  Napi::Value Statistics(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    struct tpacket_stats st;
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
      throw ErrnoError(env, errno, "getsockopt", "PACKET_STATISTICS");
    Napi::Array r = Napi::Array::New(env, 2);
    r.Set(0u, Napi::Number::New(env, st.tp_packets));
    r.Set(1u, Napi::Number::New(env, st.tp_drops));
    return r;
  }


  // setupRing(frameSize, frameCount) -> ArrayBuffer
  //
  // Switches the socket's receive path to a TPACKET_V2 ring of `frameCount` frames of
  // `frameSize` bytes (rounded up to 16) and returns the mapped ring as an external
  // ArrayBuffer. After this, frames are read with ringRecv (recv would see nothing). The
  // mapping outlives close(): it is unmapped when the ArrayBuffer is collected, and close()
  // detaches the ArrayBuffer so JS cannot read freed frames.
  //
  // On an adopted descriptor the ring must already exist (set up by the owner with the same
  // frameSize and frameCount): it is only mapped again here, and the reader finds its place
  // in the ring by itself (see Resync).
  Napi::Value SetupRing(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (ring_ != nullptr) throw Napi::Error::New(env, "setupRing: the ring is already set up");
    int64_t fsz = info[0].As<Napi::Number>().Int64Value();
    int64_t fcount = info[1].As<Napi::Number>().Int64Value();
    int64_t bsz, perBlock, blocks;
    if (!RingGeometry(&fsz, fcount, &bsz, &perBlock, &blocks))
      throw Napi::RangeError::New(env, "setupRing: bad frame size or count");
    if (!adopted_) {
      int v = TPACKET_V2;
      if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_VERSION");
      struct tpacket_req req;
      req.tp_block_size = static_cast<unsigned>(bsz);
      req.tp_block_nr = static_cast<unsigned>(blocks);
      req.tp_frame_size = static_cast<unsigned>(fsz);
      req.tp_frame_nr = static_cast<unsigned>(blocks * perBlock);
      if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0)
        throw ErrnoError(env, errno, "setsockopt", "PACKET_RX_RING");
    }
    size_t len = static_cast<size_t>(bsz) * blocks;
    void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) throw ErrnoError(env, errno, "mmap", "PACKET_RX_RING");
    ring_ = static_cast<uint8_t *>(m);
    ringLen_ = len;
    frameSize_ = static_cast<size_t>(fsz);
    blockSize_ = static_cast<size_t>(bsz);
    perBlock_ = static_cast<size_t>(perBlock);
    frameNr_ = static_cast<size_t>(blocks * perBlock);
    head_ = 0;
    held_ = 0;
    resync_ = adopted_;
    // The mapping is shared by this object and the ArrayBuffer: close() unmaps it after
    // detaching the ArrayBuffer; otherwise (the object collected without close) the
    // ArrayBuffer's finalizer does. Whoever comes second frees the record.
    mapping_ = new Mapping{m, len, true};
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, m, len,
        [](Napi::Env, void *, Mapping *mp) {
          if (mp->mapped) munmap(mp->addr, mp->len);
          delete mp;
        },
        mapping_);
    ringRef_ = Napi::Persistent(ab);
    return ab;
  }

  // Frame i of a ring mapped at base: whole frames per block, blocks back to back.
  static uint8_t *FrameAt(uint8_t *base, size_t i, size_t perBlock, size_t blockSize,
                          size_t frameSize) {
    return base + (i / perBlock) * blockSize + (i % perBlock) * frameSize;
  }

  uint8_t *RingFrame(size_t i) const {
    return FrameAt(ring_, i, perBlock_, blockSize_, frameSize_);
  }

  // ringRecv(max, offs, lens, meta) -> count
  //
  // Hands the frames ready in the ring (up to max) to JS: offsets into the ring ArrayBuffer,
  // lengths and metadata as recv() writes them (VLAN tags restored in place). The frames
  // handed out by the previous call are given back to the kernel first, so a frame is valid
  // until the next ringRecv or close.
  Napi::Value RingRecv(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (ring_ == nullptr) throw Napi::Error::New(env, "ringRecv: no ring (call setupRing)");
    int64_t max = info[0].As<Napi::Number>().Int64Value();
    size_t offsLen, lensLen, metaLen;
    int32_t *offs = ArrayArg<int32_t>(info, 1, napi_int32_array, &offsLen, "offs");
    int32_t *lens = ArrayArg<int32_t>(info, 2, napi_int32_array, &lensLen, "lens");
    int32_t *meta = ArrayArg<int32_t>(info, 3, napi_int32_array, &metaLen, "meta");
    ReleaseHeld();
    if (resync_ && !Resync()) return Napi::Number::New(env, 0);
    if (max > static_cast<int64_t>(offsLen)) max = offsLen;
    if (max > static_cast<int64_t>(lensLen)) max = lensLen;
    if (max > static_cast<int64_t>(metaLen)) max = metaLen;
    if (max > static_cast<int64_t>(frameNr_)) max = frameNr_;
    int n = 0;
    while (n < max) {
      uint8_t *f = RingFrame((head_ + n) % frameNr_);
      auto *h = reinterpret_cast<struct tpacket2_hdr *>(f);
      uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
      if (!(status & TP_STATUS_USER)) break;
      auto *sll = reinterpret_cast<struct sockaddr_ll *>(f + TPACKET_ALIGN(sizeof *h));
      int m = sll->sll_pkttype & 0xff;
      size_t mac = h->tp_mac;
      size_t len = h->tp_snaplen;
      if (status & TP_STATUS_CSUMNOTREADY) m |= kMetaCsumNotReady;
      if (status & TP_STATUS_CSUM_VALID) m |= kMetaCsumValid;
      if (h->tp_len > h->tp_snaplen) {
        m |= kMetaTruncated;
        len = h->tp_len;
      } else if (((status & TP_STATUS_VLAN_VALID) || h->tp_vlan_tci != 0) && len >= 12 &&
                 mac >= TPACKET2_HDRLEN + 4) {
        uint16_t tpid =
            (status & TP_STATUS_VLAN_TPID_VALID) ? h->tp_vlan_tpid : ETH_P_8021Q;
        uint8_t *fr = f + mac;
        memmove(fr - 4, fr, 12);
        fr[8] = tpid >> 8;
        fr[9] = tpid & 0xff;
        fr[10] = h->tp_vlan_tci >> 8;
        fr[11] = h->tp_vlan_tci & 0xff;
        mac -= 4;
        len += 4;
        m |= kMetaVlanRestored;
      }
      offs[n] = static_cast<int32_t>(f + mac - ring_);
      lens[n] = static_cast<int32_t>(len);
      meta[n] = m;
      n++;
    }
    held_ = n;
    return Napi::Number::New(env, n);
  }

  // ringResync(): gives the frames handed out last back to the kernel and makes the next
  // ringRecv look for the oldest ready frame instead of trusting the read position: for a
  // reader taking the ring back from another one (a worker thread) that moved it on.
  Napi::Value RingResync(const Napi::CallbackInfo &info) {
    if (ring_ != nullptr) {
      ReleaseHeld();
      resync_ = true;
    }
    return info.Env().Undefined();
  }

  // ringRelease(): gives the frames handed out last back to the kernel now, for a reader about
  // to hand the ring to another one.
  Napi::Value RingRelease(const Napi::CallbackInfo &info) {
    if (ring_ != nullptr) ReleaseHeld();
    return info.Env().Undefined();
  }

  // createTxRing(frameSize, frameCount) -> frames: sets a TPACKET_V2 tx ring up on this
  // (txOnly) socket, for another PacketSocket adopting the descriptor to map (mapTxRing). The
  // owner does not map it. Returns the frame count the kernel got (whole blocks).
  Napi::Value CreateTxRing(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    int64_t fsz = info[0].As<Napi::Number>().Int64Value();
    int64_t fcount = info[1].As<Napi::Number>().Int64Value();
    int64_t bsz, perBlock, blocks;
    if (!RingGeometry(&fsz, fcount, &bsz, &perBlock, &blocks))
      throw Napi::RangeError::New(env, "createTxRing: bad frame size or count");
    int v = TPACKET_V2;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0)
      throw ErrnoError(env, errno, "setsockopt", "PACKET_VERSION");
    struct tpacket_req req;
    req.tp_block_size = static_cast<unsigned>(bsz);
    req.tp_block_nr = static_cast<unsigned>(blocks);
    req.tp_frame_size = static_cast<unsigned>(fsz);
    req.tp_frame_nr = static_cast<unsigned>(blocks * perBlock);
    if (setsockopt(fd_, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0)
      throw ErrnoError(env, errno, "setsockopt", "PACKET_TX_RING");
    return Napi::Number::New(env, static_cast<double>(blocks * perBlock));
  }

  // mapTxRing(frameSize, frameCount): maps the tx ring the owner created with the same
  // arguments, to send through with txRingSend. The first frame is the ring's first: the
  // owner hands every new reader a new socket.
  Napi::Value MapTxRing(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (tx_ != nullptr) throw Napi::Error::New(env, "mapTxRing: already mapped");
    int64_t fsz = info[0].As<Napi::Number>().Int64Value();
    int64_t fcount = info[1].As<Napi::Number>().Int64Value();
    int64_t bsz, perBlock, blocks;
    if (!RingGeometry(&fsz, fcount, &bsz, &perBlock, &blocks))
      throw Napi::RangeError::New(env, "mapTxRing: bad frame size or count");
    size_t len = static_cast<size_t>(bsz) * blocks;
    void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) throw ErrnoError(env, errno, "mmap", "PACKET_TX_RING");
    tx_ = static_cast<uint8_t *>(m);
    txLen_ = len;
    txFrameSize_ = static_cast<size_t>(fsz);
    txBlockSize_ = static_cast<size_t>(bsz);
    txPerBlock_ = static_cast<size_t>(perBlock);
    txFrameNr_ = static_cast<size_t>(blocks * perBlock);
    txHead_ = 0;
    return env.Undefined();
  }

  uint8_t *TxFrame(size_t i) const {
    return FrameAt(tx_, i, txPerBlock_, txBlockSize_, txFrameSize_);
  }

  // txRingSend(bufs, offs, lens, count, maxLen) -> sent
  //
  // Sends frames 0.. of a batch (bufs as for send) through the mapped tx ring: each is copied
  // into the next free ring frame behind a virtio-net header that asks for all of it in the
  // socket buffer's linear part, then one send() has the kernel transmit them all.
  // Stops at a frame longer than maxLen or the ring frame, or when the next ring frame is still
  // in flight. Frames the kernel did not take (no buffer space, link down) are taken back, so
  // the ring and this reader agree where the next frame goes. Returns how many frames (from
  // the first) the kernel took; the caller sends the rest another way.
  Napi::Value TxRingSend(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Check(env);
    if (tx_ == nullptr) throw Napi::Error::New(env, "txRingSend: no tx ring (call mapTxRing)");
    int32_t *offs, *lens;
    int64_t count = BatchArgs(info, 5, "txRingSend", &offs, &lens);
    int64_t maxLen = info[4].As<Napi::Number>().Int64Value();
    FrameSource src(info, 0, count, "txRingSend");
    const size_t dataOff = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
    const size_t room = txFrameSize_ - dataOff - sizeof(VnetHdr);
    lastErrno_ = 0;
    lastSentBytes_ = 0;
    size_t placed = 0;
    while (static_cast<int64_t>(placed) < count && placed < txFrameNr_) {
      size_t slot = (txHead_ + placed) % txFrameNr_;
      auto *h = reinterpret_cast<struct tpacket2_hdr *>(TxFrame(slot));
      if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) break;
      size_t plen;
      uint8_t *p = src.Get(placed, &plen);
      int32_t o = offs[placed], l = lens[placed];
      if (o < 0 || l < 0 || static_cast<size_t>(o) + static_cast<size_t>(l) > plen)
        throw Napi::RangeError::New(env, "txRingSend: frame outside its buffer");
      if (static_cast<size_t>(l) > room || l > maxLen) break;
      uint8_t *d = reinterpret_cast<uint8_t *>(h) + dataOff;
      VnetHdr vh;
      memset(&vh, 0, sizeof vh);
      // The whole frame into the linear part: the kernel copies it there and keeps no
      // reference to the ring frame, which may be reused as soon as the buffer is orphaned
      // (a receiving socket queues it) rather than freed.
      vh.hdr_len = static_cast<uint16_t>(l);
      memcpy(d, &vh, sizeof vh);
      memcpy(d + sizeof vh, p + o, static_cast<size_t>(l));
      h->tp_len = static_cast<uint32_t>(l + sizeof vh);
      __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
      placed++;
    }
    if (placed == 0) return Napi::Number::New(env, 0);
    for (;;) {
      if (send(fd_, nullptr, 0, MSG_DONTWAIT) >= 0) break;
      if (errno == EINTR) continue;
      lastErrno_ = errno;
      break;
    }
    // The kernel takes frames in ring order and stops at the first it cannot send: that one
    // and the ones after it are still SEND_REQUEST. Take them back.
    size_t taken = 0;
    for (; taken < placed; taken++) {
      auto *h = reinterpret_cast<struct tpacket2_hdr *>(TxFrame((txHead_ + taken) % txFrameNr_));
      if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_SEND_REQUEST) break;
      lastSentBytes_ += lens[taken];
    }
    for (size_t q = taken; q < placed; q++) {
      auto *h = reinterpret_cast<struct tpacket2_hdr *>(TxFrame((txHead_ + q) % txFrameNr_));
      __atomic_store_n(&h->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
    }
    txHead_ = (txHead_ + taken) % txFrameNr_;
    return Napi::Number::New(env, static_cast<double>(taken));
  }

  // ringPosition() -> index of the frame the next ringRecv reads first (after the frames
  // handed out last), for handing the ring to another reader of the same socket.
  Napi::Value RingPosition(const Napi::CallbackInfo &info) {
    size_t pos = frameNr_ == 0 ? 0 : (head_ + held_) % frameNr_;
    return Napi::Number::New(info.Env(), static_cast<double>(pos));
  }

  // ringSeek(pos): gives the frames handed out last back to the kernel and reads from frame
  // `pos` on: the position the previous reader of the ring reported (ringPosition), which
  // replaces the search of Resync.
  Napi::Value RingSeek(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (ring_ == nullptr) throw Napi::Error::New(env, "ringSeek: no ring (call setupRing)");
    int64_t pos = info[0].As<Napi::Number>().Int64Value();
    if (pos < 0 || pos >= static_cast<int64_t>(frameNr_))
      throw Napi::RangeError::New(env, "ringSeek: position outside the ring");
    ReleaseHeld();
    head_ = static_cast<size_t>(pos);
    resync_ = false;
    return env.Undefined();
  }

  // Finds the read position when the previous reader did not say it (it died): the kernel
  // fills frames in order, so the oldest ready frame is a ready one whose predecessor the
  // kernel owns. With no ready frame the position is unknown and the search is repeated on the
  // next call. With every frame ready (a full ring: the kernel waits for the frame it would
  // fill next) the oldest is the one received first, by the timestamps the kernel writes.
  // True when the position is known.
  bool Resync() {
    size_t n = frameNr_;
    auto hdr = [this](size_t i) { return reinterpret_cast<struct tpacket2_hdr *>(RingFrame(i)); };
    auto ready = [&hdr](size_t i) {
      return (__atomic_load_n(&hdr(i)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
    };
    bool prev = ready(n - 1);
    bool any = prev;
    for (size_t i = 0; i < n; i++) {
      bool cur = ready(i);
      if (cur && !prev) {
        head_ = i;
        resync_ = false;
        return true;
      }
      any = any || cur;
      prev = cur;
    }
    if (!any) return false;
    size_t oldest = 0;
    for (size_t i = 1; i < n; i++) {
      const auto *a = hdr(i);
      const auto *b = hdr(oldest);
      if (a->tp_sec < b->tp_sec || (a->tp_sec == b->tp_sec && a->tp_nsec < b->tp_nsec))
        oldest = i;
    }
    head_ = oldest;
    resync_ = false;
    return true;
  }

  void ReleaseHeld() {
    for (size_t i = 0; i < held_; i++) {
      auto *h = reinterpret_cast<struct tpacket2_hdr *>(RingFrame((head_ + i) % frameNr_));
      __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    }
    head_ = (head_ + held_) % (frameNr_ ? frameNr_ : 1);
    held_ = 0;
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    // Frames handed out last go back to the kernel: another reader of the ring (the owner,
    // when this is an adopted descriptor) must not find them still marked ready.
    if (ring_ != nullptr) ReleaseHeld();
    if (!ringRef_.IsEmpty()) {
      // JS may still hold views of the ring: detach it so they read nothing, then unmap now.
      // Unmapping here matters: while mapped, the socket outlives close(fd), and libuv may
      // not have removed it from its epoll set yet (it defers that when a poll callback
      // stops polling), leaving a stale registration behind for the fd's next user.
      Napi::ArrayBuffer ab = ringRef_.Value();
      if (!ab.IsDetached()) ab.Detach();
      if (mapping_ != nullptr && mapping_->mapped) {
        munmap(mapping_->addr, mapping_->len);
        mapping_->mapped = false;
      }
    }
    Release();
    return info.Env().Undefined();
  }

  void UnmapTx() {
    if (tx_ != nullptr) munmap(tx_, txLen_);
    tx_ = nullptr;
  }

  void Release() {
    UnmapTx();
    if (polling_) StopPolling();
    cb_.Reset();
    if (poll_) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t *>(poll_),
               [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
      poll_ = nullptr;
    }
    asyncCtx_.reset();
    ringRef_.Reset();
    mapping_ = nullptr; // from now on the ArrayBuffer's finalizer owns the record
    ring_ = nullptr;
    held_ = 0;
    if (fd_ >= 0) {
      if (!adopted_) close(fd_);
      fd_ = -1;
    }
  }

  std::string ifname_;
  int fd_ = -1;
  bool adopted_ = false; // fd_ belongs to another PacketSocket: never closed here
  int ifindex_ = 0;
  int lastErrno_ = 0;
  int64_t lastSentBytes_ = 0;
  uint8_t *ring_ = nullptr; // owned by the ArrayBuffer in ringRef_ (unmapped by its finalizer)
  size_t ringLen_ = 0, frameSize_ = 0, blockSize_ = 0, perBlock_ = 0, frameNr_ = 0;
  size_t head_ = 0, held_ = 0;
  // The mapped tx ring (mapTxRing) and the frame the next txRingSend fills first.
  uint8_t *tx_ = nullptr;
  size_t txLen_ = 0, txFrameSize_ = 0, txBlockSize_ = 0, txPerBlock_ = 0, txFrameNr_ = 0;
  size_t txHead_ = 0;
  bool resync_ = false; // the read position must be found again (see Resync)
  Napi::Reference<Napi::ArrayBuffer> ringRef_;
  struct Mapping {
    void *addr;
    size_t len;
    bool mapped;
  };
  Mapping *mapping_ = nullptr;
  uv_poll_t *poll_ = nullptr;
  bool polling_ = false;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> asyncCtx_;

  struct mmsghdr rxmsg_[kMaxBatch];
  struct iovec rxiov_[kMaxBatch];
  struct sockaddr_ll rxaddr_[kMaxBatch];
  struct Ctl {
    alignas(struct cmsghdr) char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata)) + 64];
  } rxctl_[kMaxBatch];
  struct mmsghdr txmsg_[kMaxBatch];
  struct iovec txiov_[kMaxBatch];
};

// waitReadable(fds: Int32Array, count, timeoutMs, ready: Uint8Array): blocks in poll(2) until
// one of the first `count` descriptors is readable, the timeout passes (-1: forever) or a
// signal arrives; sets ready[i] to 1 for each readable (or failed) descriptor and returns how
// many there are (0 on timeout or EINTR). For a datapath worker thread, whose event loop is
// not involved: the caller wakes it by making one of the descriptors readable.
Napi::Value WaitReadable(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsNumber() ||
      !info[2].IsNumber() || !info[3].IsTypedArray())
    throw Napi::TypeError::New(env, "waitReadable(fds, count, timeoutMs, ready)");
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  Napi::Uint8Array ready = info[3].As<Napi::Uint8Array>();
  int count = info[1].As<Napi::Number>().Int32Value();
  int timeout = info[2].As<Napi::Number>().Int32Value();
  if (count < 0 || count > 1024 || static_cast<size_t>(count) > fds.ElementLength() ||
      static_cast<size_t>(count) > ready.ElementLength())
    throw Napi::RangeError::New(env, "waitReadable: count out of range");
  struct pollfd pfd[1024];
  for (int i = 0; i < count; i++) {
    pfd[i].fd = fds[i];
    pfd[i].events = POLLIN;
    pfd[i].revents = 0;
  }
  int n = poll(pfd, static_cast<nfds_t>(count), timeout);
  if (n < 0) {
    if (errno == EINTR) n = 0;
    else throw ErrnoError(env, errno, "poll", "waitReadable");
  }
  int k = 0;
  for (int i = 0; i < count; i++) {
    ready[i] = pfd[i].revents != 0 ? 1 : 0;
    if (pfd[i].revents != 0) k++;
  }
  return Napi::Number::New(env, k);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("waitReadable", Napi::Function::New<WaitReadable>(env, "waitReadable"));
  exports.Set("PacketSocket", PacketSocket::Define(env));
  exports.Set("TapDevice", DefineTapDevice(env));
  DefineWakeFd(env, exports);
  DefineBusyRead(env, exports);
  Napi::Object c = Napi::Object::New(env);
  c.Set("META_PKTTYPE_MASK", Napi::Number::New(env, static_cast<double>(0xff)));
  c.Set("META_VLAN_RESTORED", Napi::Number::New(env, static_cast<double>(kMetaVlanRestored)));
  c.Set("META_TRUNCATED", Napi::Number::New(env, static_cast<double>(kMetaTruncated)));
  c.Set("META_CSUM_NOT_READY", Napi::Number::New(env, static_cast<double>(kMetaCsumNotReady)));
  c.Set("META_CSUM_VALID", Napi::Number::New(env, static_cast<double>(kMetaCsumValid)));
  c.Set("PACKET_HOST", Napi::Number::New(env, static_cast<double>(PACKET_HOST)));
  c.Set("PACKET_BROADCAST", Napi::Number::New(env, static_cast<double>(PACKET_BROADCAST)));
  c.Set("PACKET_MULTICAST", Napi::Number::New(env, static_cast<double>(PACKET_MULTICAST)));
  c.Set("PACKET_OTHERHOST", Napi::Number::New(env, static_cast<double>(PACKET_OTHERHOST)));
  c.Set("PACKET_OUTGOING", Napi::Number::New(env, static_cast<double>(PACKET_OUTGOING)));
  c.Set("IFF_UP", Napi::Number::New(env, static_cast<double>(IFF_UP)));
  c.Set("IFF_RUNNING", Napi::Number::New(env, static_cast<double>(IFF_RUNNING)));
  c.Set("IFF_PROMISC", Napi::Number::New(env, static_cast<double>(IFF_PROMISC)));
  c.Set("MAX_BATCH", Napi::Number::New(env, static_cast<double>(kMaxBatch)));
  exports.Set("constants", c);
  exports.Set("abiVersion", Napi::Number::New(env, 8));
  return exports;
}

} // namespace

NODE_API_MODULE(tsvs_afpacket, Init)
