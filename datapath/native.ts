/**
 * Lazy loader and typings of the native addon (native/, built by node-gyp into
 * native/build/Release/tsvs_afpacket.node). Only netdevs that touch the kernel (afpacket) need
 * it; nothing loads it until {@link loadNative} is called, so the rest of the switch (and every
 * test that uses dummy netdevs) works without a compiler.
 *
 * Build: `npx node-gyp rebuild --directory=native` (from the repository root). The environment
 * variable `TSVS_NATIVE_ADDON` may name the `.node` file to load instead.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of {@link PacketSocket}'s constructor. */
export interface PacketSocketOptions {
  /** Network namespace file (e.g. `/var/run/netns/NAME`) to create the socket in. */
  netns?: string;
  /** Join PACKET_MR_PROMISC membership (refcounted, dropped on close). Default true. */
  promisc?: boolean;
  /** PACKET_IGNORE_OUTGOING: do not receive frames other sockets transmit. Default true. */
  ignoreOutgoing?: boolean;
  /** PACKET_AUXDATA: restore stripped VLAN tags, report checksum status. Default true. */
  auxdata?: boolean;
  /** PACKET_QDISC_BYPASS on transmit. Default false. */
  qdiscBypass?: boolean;
  /** SO_RCVBUF(FORCE) in bytes (0: the system default). */
  rcvbuf?: number;
  /** SO_SNDBUF(FORCE) in bytes (0: the system default). */
  sndbuf?: number;
  /**
   * Adopt this already bound AF_PACKET descriptor (opened by another PacketSocket, e.g. on the
   * main thread) instead of opening one: no socket, bind or option changes; `close()` never
   * closes it, and `setupRing` maps the owner's ring rather than creating one. The other
   * options are ignored. The owner must keep the descriptor open while the adopting socket
   * uses it.
   */
  adoptFd?: number;
  /**
   * Open a socket that only transmits, through a tx ring ({@link PacketSocket.createTxRing}):
   * protocol 0 (it receives nothing), PACKET_VNET_HDR and PACKET_LOSS; only `netns` and
   * `sndbuf` apply.
   */
  txOnly?: boolean;
}

/**
 * One AF_PACKET SOCK_RAW socket (ETH_P_ALL, non-blocking) bound to one interface. Errors are
 * thrown as `Error`s with `code` (`ENODEV`, …), `errno` and `syscall` where a syscall failed.
 */
export interface PacketSocket {
  /** The socket's file descriptor (-1 after close). */
  readonly fd: number;
  /** The interface index in the socket's namespace. */
  readonly ifindex: number;
  /** errno of the last frame the kernel refused in {@link send} (0 if none). */
  readonly lastErrno: number;
  /** Bytes of the frames the last {@link send} call sent. */
  readonly lastSentBytes: number;
  /**
   * One recvmmsg of up to `max` frames into `buf`: slot i is `buf[i*slotSize, (i+1)*slotSize)`
   * and the kernel writes the frame at slot + `headroom`; a restored VLAN tag moves the start
   * 4 bytes earlier. Writes each frame's offset in `buf`, length and metadata (pkttype in the
   * low 8 bits, `META_*` bits) to `offs`, `lens`, `meta`. A truncated frame has META_TRUNCATED
   * and its full length. Returns the count (0 when nothing waits; never blocks).
   */
  recv(
    buf: Uint8Array,
    slotSize: number,
    headroom: number,
    max: number,
    offs: Int32Array,
    lens: Int32Array,
    meta: Int32Array,
  ): number;
  /**
   * sendmmsg of frames `first` (default 0) to `count - 1`: frame i is
   * `bufs[offs[i], offs[i]+lens[i])` (bufs a single buffer) or `bufs[i][…]` (an array). Refused
   * frames are skipped (see lastErrno); a full queue ends the call. Returns the number sent.
   */
  send(
    bufs: Uint8Array | Uint8Array[],
    offs: Int32Array,
    lens: Int32Array,
    count: number,
    first?: number,
  ): number;
  /**
   * Sets a TPACKET_V2 tx ring up on a `txOnly` socket, for the socket that adopts the
   * descriptor to map ({@link mapTxRing}); this one does not map it. Returns the frame count
   * the kernel got (whole blocks, at least `frameCount`).
   */
  createTxRing(frameSize: number, frameCount: number): number;
  /**
   * Maps the tx ring the owner created with the same arguments (on an adopted descriptor),
   * for {@link txRingSend}. Sending starts at the ring's first frame.
   */
  mapTxRing(frameSize: number, frameCount: number): void;
  /**
   * Sends frames 0.. of a batch (as {@link send}) through the mapped tx ring with one send():
   * stops at a frame longer than `maxLen` or a ring frame, or at a ring frame still in flight;
   * frames the kernel did not take are taken back. Returns how many frames, from the first,
   * the kernel took (lastSentBytes their bytes; lastErrno the send error, 0 if none).
   */
  txRingSend(
    bufs: Uint8Array | Uint8Array[],
    offs: Int32Array,
    lens: Int32Array,
    count: number,
    maxLen: number,
  ): number;
  /** Calls `cb` from the event loop while the socket is readable (level triggered). */
  startPoll(cb: (status: number) => void): void;
  /** Stops calling the poll callback. */
  stopPoll(): void;
  /** The interface's IFF_* flags (SIOCGIFFLAGS). */
  getFlags(): number;
  /** Sets the `set` bits then clears the `clear` bits of the IFF_* flags. */
  setFlags(set: number, clear: number): void;
  /**
   * The carrier as the driver reports it now (ETHTOOL_GLINK): 1 up, 0 down, -1 when the driver
   * cannot tell (then IFF_RUNNING is the answer, updated a little later by the kernel).
   */
  getLink(): number;
  /** The interface MTU. */
  getMtu(): number;
  /** Sets the interface MTU. */
  setMtu(mtu: number): void;
  /** The interface's Ethernet address (a new 6-byte array). */
  getMac(): Uint8Array;
  /** Sets the interface's Ethernet address. */
  setMac(mac: Uint8Array): void;
  /** The interface's current name, looked up by ifindex. */
  getName(): string;
  /** `[packets, drops]` counted by the kernel since the previous call (reset on read). */
  statistics(): [number, number];
  /**
   * Switches reception to a TPACKET_V2 rx ring of `frameCount` frames of `frameSize` bytes and
   * returns the mapped ring (external memory, detached on close). Read it with
   * {@link ringRecv}; {@link recv} sees nothing afterwards.
   */
  setupRing(frameSize: number, frameCount: number): ArrayBuffer;
  /**
   * Gives the frames handed out by the last {@link ringRecv} back to the kernel and makes the
   * next ringRecv find the oldest ready frame by itself rather than trust its read position:
   * for an owner taking the ring back from another reader (a worker thread). On an adopted
   * descriptor, {@link setupRing} maps the owner's ring (same geometry) and starts this way.
   */
  ringResync(): void;
  /** Gives the frames handed out by the last {@link ringRecv} back to the kernel now. */
  ringRelease(): void;
  /**
   * The index of the frame the next {@link ringRecv} reads first (after the frames it handed
   * out last): what another reader of this socket's ring passes to {@link ringSeek}.
   */
  ringPosition(): number;
  /**
   * Gives the frames handed out last back to the kernel and reads from frame `pos` on (a
   * {@link ringPosition} of the previous reader), instead of searching as after
   * {@link ringResync}. Throws a RangeError outside the ring.
   */
  ringSeek(pos: number): void;
  /**
   * Hands up to `max` ready ring frames to JS as offsets into the ring, lengths and metadata
   * (as {@link recv}). Gives the previous call's frames back to the kernel first, so a frame
   * is valid until the next ringRecv or close. Returns the count (0 when none is ready).
   */
  ringRecv(max: number, offs: Int32Array, lens: Int32Array, meta: Int32Array): number;
  /** Stops polling and closes the socket. Idempotent. */
  close(): void;
}

/** Constants exported by the addon. */
export interface NativeConstants {
  readonly META_PKTTYPE_MASK: number;
  readonly META_VLAN_RESTORED: number;
  readonly META_TRUNCATED: number;
  readonly META_CSUM_NOT_READY: number;
  readonly META_CSUM_VALID: number;
  readonly PACKET_HOST: number;
  readonly PACKET_BROADCAST: number;
  readonly PACKET_MULTICAST: number;
  readonly PACKET_OTHERHOST: number;
  readonly PACKET_OUTGOING: number;
  readonly IFF_UP: number;
  readonly IFF_RUNNING: number;
  readonly IFF_PROMISC: number;
  /** Largest batch one recv/send call handles. */
  readonly MAX_BATCH: number;
}

/**
 * A TAP device opened through /dev/net/tun (IFF_TAP | IFF_NO_PI) and created when missing; the
 * kernel deletes it when the last descriptor closes. Errors are thrown as `Error`s with `code`
 * (`EBUSY` when another process holds a device of that name, `EPERM` without CAP_NET_ADMIN).
 */
export interface TapDevice {
  /** The descriptor (-1 after close). */
  readonly fd: number;
  /** The interface name. */
  readonly name: string;
  /**
   * Reads up to `max` frames without blocking: frame i lands at `buf[i*slotSize]`, its offset
   * and length go to `offs[i]`/`lens[i]` (a frame longer than the slot is cut to the slot).
   * Returns the count (0 when nothing waits).
   */
  read(buf: Uint8Array, slotSize: number, max: number, offs: Int32Array, lens: Int32Array): number;
  /**
   * Writes `count` frames (frame i is `bufs[offs[i], offs[i]+lens[i])` or `bufs[i][…]`); stops
   * at the first frame the device cannot take (EAGAIN: queue full; EIO: the interface is down)
   * and returns how many came before it; a frame the driver rejects otherwise is skipped and
   * counted as consumed.
   */
  write(bufs: Uint8Array | Uint8Array[], offs: Int32Array, lens: Int32Array, count: number): number;
  /** Calls `cb` from the event loop while the device is readable (level triggered). */
  startPoll(cb: (status: number) => void): void;
  /** Stops calling the poll callback. */
  stopPoll(): void;
  /** IFF_* flags. */
  getFlags(): number;
  /** Sets the `set` bits then clears the `clear` bits of the IFF_* flags. */
  setFlags(set: number, clear: number): void;
  /** MTU. */
  getMtu(): number;
  /** Sets the MTU. */
  setMtu(mtu: number): void;
  /** Ethernet address (6 bytes). */
  getMac(): Uint8Array;
  /** Sets the Ethernet address. */
  setMac(mac: Uint8Array): void;
  /** Interface index. */
  getIfindex(): number;
  /** Closes the descriptor (the kernel then removes the device). Idempotent. */
  close(): void;
}

/** The addon's exports. */
export interface NativeAddon {
  /** Opens a socket bound to `ifname` (see {@link PacketSocket}). */
  readonly PacketSocket: new (ifname: string, options?: PacketSocketOptions) => PacketSocket;
  /**
   * Opens (creating if needed) the TAP device `name` (see {@link TapDevice}), in the network
   * namespace file `netns` when given (the device and its control socket live there). With
   * `adoptFd` (the descriptor of a TapDevice this process opened, e.g. on the main thread):
   * nothing is opened or attached, only a control socket for the ioctls in `netns`; I/O goes
   * through that descriptor and `close()` leaves it open. The owner must keep it open while the
   * adopting object uses it.
   */
  readonly TapDevice: new (name: string, netns?: string, adoptFd?: number) => TapDevice;
  /**
   * Blocks in poll(2) until one of the first `count` descriptors of `fds` is readable (or
   * failed), `timeoutMs` passes (-1: forever) or a signal arrives. Sets `ready[i]` to 1 for each
   * such descriptor, 0 otherwise, and returns how many there are (0 on timeout or EINTR). Meant
   * for a datapath worker thread, whose event loop is not involved; never call it on the main
   * thread.
   */
  waitReadable(fds: Int32Array, count: number, timeoutMs: number, ready: Uint8Array): number;
  /** Creates a non-blocking eventfd (counter 0) to wake a thread in {@link waitReadable}. */
  wakeFdCreate(): number;
  /** Makes the eventfd readable (adds 1 to its counter). Any thread may call it. */
  wakeFdSignal(fd: number): void;
  /** Reads and resets the eventfd's counter; returns it (0 when it was not signalled). */
  wakeFdDrain(fd: number): number;
  /** Closes the eventfd. */
  wakeFdClose(fd: number): void;
  /**
   * A bounded busy read of a stream socket: recv(MSG_DONTWAIT) into `buf`, retried without
   * sleeping until bytes arrive or `budgetUs` microseconds (0–1,000,000) pass. Returns the byte
   * count (> 0), 0 when the peer has closed, `-EAGAIN` (-11) when nothing came within the
   * budget, or `-errno` on another socket error; throws only for bad arguments. It occupies the
   * calling thread for up to the budget; the caller decides when that is worth it.
   */
  busyRead(this: void, fd: number, buf: Uint8Array, budgetUs: number): number;
  /** Constants. */
  readonly constants: NativeConstants;
  /** Version of this interface; bumped on incompatible changes. */
  readonly abiVersion: number;
}

/** The addon interface version this file describes. */
export const NATIVE_ABI_VERSION = 8;

/** Thrown by {@link loadNative} when the addon is not built or cannot be loaded. */
export class NativeAddonError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeAddonError';
  }
}

const ADDON_FILE = join('native', 'build', 'Release', 'tsvs_afpacket.node');

/** Candidate paths of the addon, nearest package root first. */
export function nativeAddonCandidates(): string[] {
  const env = process.env.TSVS_NATIVE_ADDON;
  if (env !== undefined && env !== '') return [resolve(env)];
  const out: string[] = [];
  // This file is datapath/native.ts (source) or dist/datapath/native.js (built): walk up to
  // the directory holding native/binding.gyp.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) out.push(join(dir, ADDON_FILE));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

let cached: NativeAddon | undefined;
let failure: NativeAddonError | undefined;

/**
 * Loads the addon (once; later calls return the same object or throw the same error). Throws a
 * {@link NativeAddonError} explaining how to build it when it is missing.
 */
export function loadNative(): NativeAddon {
  if (cached !== undefined) return cached;
  if (failure !== undefined) throw failure;
  if (process.platform !== 'linux') {
    failure = new NativeAddonError(`the AF_PACKET addon needs Linux (this is ${process.platform})`);
    throw failure;
  }
  const candidates = nativeAddonCandidates();
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    failure = new NativeAddonError(
      `the native addon is not built (looked for ${candidates.join(', ') || ADDON_FILE}); ` +
        'build it with `npx node-gyp rebuild --directory=native` from the repository root ' +
        '(needs g++, make, python3 and Node headers), or set TSVS_NATIVE_ADDON to its path',
    );
    throw failure;
  }
  const require = createRequire(import.meta.url);
  let mod: NativeAddon;
  try {
    mod = require(found) as NativeAddon;
  } catch (e) {
    failure = new NativeAddonError(
      `cannot load the native addon ${found}: ${(e as Error).message}; rebuild it with ` +
        '`npx node-gyp rebuild --directory=native`',
      { cause: e },
    );
    throw failure;
  }
  if (mod.abiVersion !== NATIVE_ABI_VERSION) {
    failure = new NativeAddonError(
      `the native addon ${found} has interface version ${mod.abiVersion}, expected ` +
        `${NATIVE_ABI_VERSION}; rebuild it with \`npx node-gyp rebuild --directory=native\``,
    );
    throw failure;
  }
  cached = mod;
  return mod;
}

/** True when the addon loads (without throwing). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
