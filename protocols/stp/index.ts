/** IEEE 802.1D spanning tree as Open vSwitch runs it: BPDU codec, configuration, bridge machine. */
export * from './bpdu.js';
export * from './config.js';
export * from './bridge.js';
