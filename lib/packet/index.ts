/**
 * Packet headers and flow keys: the fixed-layout flow key and its field table (flow-key.ts),
 * allocation-free extraction from frames (extract.ts), OVS-syntax printing and parsing
 * (format.ts), frame building (build.ts), checksums (checksum.ts), MAC and IP helpers.
 */
export * from './flow-key.js';
export * from './extract.js';
export * from './format.js';
export * from './build.js';
export * from './checksum.js';
export * from './mac.js';
export * from './ip.js';
