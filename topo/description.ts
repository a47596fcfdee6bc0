/**
 * The description of a running topology that `tsvs topo` keeps in `<rundir>/topo.json` for the
 * web view (and any other reader): written when the network is up, rewritten after every link
 * state change, removed when the topology stops. The file is replaced atomically (written to a
 * temporary name, then renamed), so a reader never sees half of it.
 */

/** File name of the description inside the daemon's run directory. */
export const TOPO_DESCRIPTION_FILE = 'topo.json';

/** A host of a {@link TopoDescription}. */
export interface TopoDescriptionHost {
  /** Host name (`h1`). */
  name: string;
  /** Its network namespace (`ip netns exec NETNS ...`). */
  netns: string;
  /** IPv4 address, without prefix length. */
  ip: string;
  /** Prefix length of {@link TopoDescriptionHost.ip}. */
  prefixLen: number;
  /** MAC address of its interface, lowercase colon-separated. */
  mac: string;
  /** Interface carrying the address, inside the namespace (`h1-eth0`, `h1-eth0.100`). */
  iface: string;
  /** The host's 802.1Q VLAN, if it has one. */
  vlan?: number;
  /**
   * Where {@link TopoDescriptionHost.vlan} is applied: `host` (a VLAN subinterface in the
   * namespace tags its frames) or `switch` (the switch port is an access port of that VLAN; used
   * when the kernel has no 802.1Q support).
   */
  vlanAt?: 'host' | 'switch';
  /** Switch its first interface is attached to. */
  switch: string;
  /** OpenFlow port number of that attachment on {@link TopoDescriptionHost.switch}. */
  port: number;
}

/** A switch (bridge) of a {@link TopoDescription}. */
export interface TopoDescriptionSwitch {
  /** Switch name = bridge name (`s1`). */
  name: string;
  /** Datapath id, 16 lowercase hex digits. */
  dpid?: string;
}

/** A link of a {@link TopoDescription}: a veth pair. */
export interface TopoDescriptionLink {
  /** Node at the first end. */
  a: string;
  /** Node at the second end. */
  b: string;
  /** Interface at the first end (inside the host's namespace for a host end). */
  aIface: string;
  /** Interface at the second end. */
  bIface: string;
  /** OpenFlow port number of the first end when it is a switch, host interface number otherwise. */
  aPort: number;
  /** Same for the second end. */
  bPort: number;
  /** Administrative state set by the topology (false after `link A B down`). */
  up: boolean;
  /** MTU when the spec set one. */
  mtu?: number;
}

/** Contents of `<rundir>/topo.json`. */
export interface TopoDescription {
  /** Format version: 1. */
  version: 1;
  /** Prefix of every namespace and root-namespace interface of this topology. */
  prefix: string;
  /** The spec it was built from (`linear,3`, or the file's name/title). */
  spec: string;
  /** Pid of the process that owns the topology. */
  pid: number;
  /** Controllers the switches connect to (empty: standalone). */
  controllers: string[];
  /** Bridges' fail_mode. */
  failMode: 'secure' | 'standalone';
  /** Hosts in order of creation. */
  hosts: TopoDescriptionHost[];
  /** Switches in order of creation. */
  switches: TopoDescriptionSwitch[];
  /** Links in order of creation. */
  links: TopoDescriptionLink[];
}

/** True if `x` has the shape of a {@link TopoDescription} (version 1); for readers of the file. */
export function isTopoDescription(x: unknown): x is TopoDescription {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return (
    d.version === 1 &&
    typeof d.prefix === 'string' &&
    Array.isArray(d.hosts) &&
    Array.isArray(d.switches) &&
    Array.isArray(d.links)
  );
}
