/**
 * OVSDB error tags (RFC 7047 §3.1 and the ones ovsdb-server 3.1 adds) and the typed error that
 * carries them. An operation-level error becomes the JSON object
 * `{"error": tag, "details"?: text, "syntax"?: text}` inside a transact result; a
 * request-level (JSON-RPC) error uses the same object as the reply's `error`.
 */
import type { Json } from './types.js';

/** Every error tag the engine produces, symbol → wire string. */
export const OVSDB_ERRORS = {
  syntaxError: 'syntax error',
  unknownColumn: 'unknown column',
  unknownFunction: 'unknown function',
  unknownMutator: 'unknown mutator',
  unknownDatabase: 'unknown database',
  unknownMethod: 'unknown method',
  constraintViolation: 'constraint violation',
  referentialIntegrityViolation: 'referential integrity violation',
  resourcesExhausted: 'resources exhausted',
  ioError: 'I/O error',
  duplicateUuidName: 'duplicate uuid-name',
  duplicateUuid: 'duplicate uuid',
  domainError: 'domain error',
  rangeError: 'range error',
  timedOut: 'timed out',
  notOwner: 'not owner',
  notSupported: 'not supported',
  notAllowed: 'not allowed',
  aborted: 'aborted',
  ovsdbError: 'ovsdb error',
} as const;

/** An error symbol (key of {@link OVSDB_ERRORS}). */
export type OvsdbErrorCode = keyof typeof OVSDB_ERRORS;

/** The JSON shape of an OVSDB error. */
export interface OvsdbErrorJson {
  [key: string]: Json;
  /** The error tag. */
  error: string;
}

/** A typed OVSDB error: `code` picks the wire tag; `details` and `syntax` are optional. */
export class OvsdbError extends Error {
  /** The error symbol. */
  readonly code: OvsdbErrorCode;
  /** Human-readable details (the `details` member), if any. */
  readonly details: string | undefined;
  /** The offending JSON as text (the `syntax` member), if any. */
  readonly syntax: string | undefined;

  constructor(code: OvsdbErrorCode, details?: string, syntax?: string) {
    super(details === undefined ? OVSDB_ERRORS[code] : `${OVSDB_ERRORS[code]}: ${details}`);
    this.name = 'OvsdbError';
    this.code = code;
    this.details = details;
    this.syntax = syntax;
  }

  /** The wire tag, e.g. `"constraint violation"`. */
  get tag(): string {
    return OVSDB_ERRORS[this.code];
  }

  /** `{"error", "details"?, "syntax"?}` in that member order. */
  toJson(): OvsdbErrorJson {
    const o: OvsdbErrorJson = { error: this.tag };
    if (this.details !== undefined) o.details = this.details;
    if (this.syntax !== undefined) o.syntax = this.syntax;
    return o;
  }

  /** Returns a copy with `syntax` set (when it has none yet). */
  withSyntax(syntax: string): OvsdbError {
    if (this.syntax !== undefined) return this;
    return new OvsdbError(this.code, this.details, syntax);
  }
}

/** Shorthand for `new OvsdbError('syntaxError', details, syntax)`. */
export function syntaxError(details: string, syntax?: string): OvsdbError {
  return new OvsdbError('syntaxError', details, syntax);
}
