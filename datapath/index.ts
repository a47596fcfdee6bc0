/**
 * The datapath: action IR, netdev providers, the userspace datapath (dpif-netdev) and its
 * appctl commands. Imports only lib/.
 */
export * from './actions.js';
export * from './netdev.js';
export * from './netdev-dummy.js';
export * from './packet.js';
export * from './execute.js';
export * from './dpcls.js';
export * from './dpif.js';
export * from './dpif-netdev.js';
export * from './odp-format.js';
export * from './appctl.js';
