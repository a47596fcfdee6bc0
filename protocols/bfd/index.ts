/** BFD (RFC 5880/5881) as Open vSwitch runs it on interfaces: codec, configuration, session. */
export * from './packet.js';
export * from './config.js';
export * from './session.js';
