/**
 * Framing of a stream of concatenated JSON objects, as JSON-RPC 1.0 is spoken by OVS: objects
 * back to back with no delimiter (whitespace between them allowed), one object possibly split
 * over many reads and many objects in one read.
 *
 * A byte-level scanner (string/escape state and bracket depth) finds where each top-level object
 * ends, enforcing the size and depth limits as bytes arrive; each complete object is then decoded
 * (strict UTF-8) and parsed once with {@link parseJson}.
 */
import { parseJson, JsonError, type Json } from './json.js';
import { FramerError } from './framer-openflow.js';

export { FramerError, type FramerErrorReason } from './framer-openflow.js';

/** Default largest accepted message: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Default deepest accepted nesting (the top-level object counts as 1). */
export const DEFAULT_MAX_JSON_DEPTH = 1000;

/** Options of {@link JsonFramer}. */
export interface JsonFramerOptions {
  /** Largest accepted message in bytes; a longer one is rejected as soon as it is seen. */
  maxMessageBytes?: number;
  /** Deepest accepted nesting of objects/arrays; the top-level object is depth 1. */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/**
 * Splits a byte stream into top-level JSON objects. Pure and resumable; multi-byte UTF-8
 * characters may be split across chunks. After a {@link FramerError} the framer stays failed.
 */
export class JsonFramer {
  private readonly maxBytes: number;
  private readonly maxDepth: number;
  private inMsg = false;
  private depth = 0;
  private inString = false;
  private escape = false;
  private parts: Uint8Array[] = [];
  private partBytes = 0;
  private error: FramerError | undefined;
  /** Opening bracket at each depth of the current message (index 1 = top level). */
  private stack = new Uint8Array(64);

  constructor(opts: JsonFramerOptions = {}) {
    this.maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  }

  /** Bytes held for an incomplete message. */
  pending(): number {
    return this.partBytes;
  }

  /**
   * Feeds bytes and returns the objects they complete, in order. Throws {@link FramerError}
   * (reason `not-object`, `too-long`, `too-deep`, `invalid-json` or `invalid-utf8`); objects
   * completed before the bad one are in the error's `messages`.
   */
  push(chunk: Uint8Array): Json[] {
    if (this.error) throw this.error;
    const out: Json[] = [];
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = buf.length;
    /** Position of the next backslash at or after the scan position; -1 none; -2 not yet known. */
    let nextBackslash = -2;
    let start = 0; // where the current message starts in this chunk (if it started here)
    let depth = this.depth;
    let inString = this.inString;
    let escape = this.escape;
    let inMsg = this.inMsg;
    for (let i = 0; i < n; i++) {
      const c = buf[i]!;
      if (!inMsg) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== LBRACE) {
          this.fail(
            'not-object',
            `JSON-RPC stream must hold objects; found byte 0x${c.toString(16).padStart(2, '0')} at top level`,
            out,
          );
        }
        inMsg = true;
        depth = 1;
        this.stack[1] = LBRACE;
        start = i;
        continue;
      }
      if (inString) {
        if (escape) {
          escape = false;
          continue;
        }
        // Skip to the next quote or backslash with native searches.
        if (nextBackslash === -2 || (nextBackslash !== -1 && nextBackslash < i)) {
          nextBackslash = buf.indexOf(BACKSLASH, i);
        }
        const q = buf.indexOf(QUOTE, i);
        if (nextBackslash !== -1 && (q === -1 || nextBackslash < q)) {
          i = nextBackslash;
          escape = true;
        } else if (q === -1) {
          i = n;
        } else {
          i = q;
          inString = false;
        }
        continue;
      }
      if (c === QUOTE) {
        inString = true;
      } else if (c === LBRACE || c === LBRACKET) {
        if (++depth > this.maxDepth) {
          this.fail('too-deep', `JSON message nests deeper than ${this.maxDepth} levels`, out);
        }
        if (depth >= this.stack.length) this.growStack();
        this.stack[depth] = c;
      } else if (c === RBRACE || c === RBRACKET) {
        if (this.stack[depth] !== c - 2) {
          this.fail(
            'invalid-json',
            `invalid JSON message: mismatched '${String.fromCharCode(c)}'`,
            out,
          );
        }
        if (--depth === 0) {
          const size = this.partBytes + (i + 1 - start);
          if (size > this.maxBytes) this.tooLong(size, out);
          out.push(this.complete(buf.subarray(start, i + 1), out));
          inMsg = false;
        }
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escape = escape;
    this.inMsg = inMsg;
    if (inMsg) {
      const tail = buf.subarray(start);
      const size = this.partBytes + tail.length;
      if (size > this.maxBytes) this.tooLong(size, out);
      // Copy: the caller may reuse its chunk.
      this.parts.push(Uint8Array.prototype.slice.call(tail));
      this.partBytes = size;
    }
    return out;
  }

  /** Decodes and parses one complete message whose last bytes are `last`. */
  private complete(last: Uint8Array, done: Json[]): Json {
    let bytes = last;
    if (this.partBytes > 0) {
      this.parts.push(last);
      bytes = Buffer.concat(this.parts, this.partBytes + last.length);
      this.parts = [];
      this.partBytes = 0;
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return this.fail('invalid-utf8', 'JSON message is not valid UTF-8', done);
    }
    try {
      // Depth was enforced by the scanner.
      return parseJson(text, { maxDepth: Infinity });
    } catch (e) {
      const why = e instanceof JsonError ? e.message : String(e);
      return this.fail('invalid-json', `invalid JSON message: ${why}`, done);
    }
  }

  private growStack(): void {
    const bigger = new Uint8Array(this.stack.length * 2);
    bigger.set(this.stack);
    this.stack = bigger;
  }

  private tooLong(size: number, done: Json[]): never {
    return this.fail(
      'too-long',
      `JSON message of at least ${size} bytes exceeds the ${this.maxBytes}-byte limit`,
      done,
    );
  }

  private fail(reason: FramerError['reason'], message: string, done: Json[]): never {
    this.parts = [];
    this.partBytes = 0;
    this.error = new FramerError(reason, message, done);
    throw this.error;
  }
}
