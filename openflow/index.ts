/**
 * The OpenFlow 1.3 wire codec: messages, OXM fields, actions, instructions, multipart bodies,
 * table features, the ONF bundle extension, the error table and stateless validation. No sockets,
 * no state.
 */
export * from './constants.js';
export * from './errors.js';
export * from './oxm.js';
export * from './actions.js';
export * from './instructions.js';
export * from './structs.js';
export * from './table-features.js';
export * from './multipart.js';
export * from './bundle.js';
export * from './messages.js';
export * from './validate.js';
export * from './print.js';
export { Reader, Writer, withWriter } from './bytes.js';
