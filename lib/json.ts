/**
 * JSON with exact 64-bit integers. OVSDB integers are 64-bit and JSON-RPC ids larger than 2^53
 * must be echoed verbatim, so {@link parseJson} turns integer literals that a `number` cannot hold
 * exactly into `bigint`; reals stay `number`. {@link stringifyJson} prints `bigint` as plain digits.
 *
 * The common case (no integer literal longer than 15 digits) goes through the native
 * `JSON.parse`; only texts that might hold a big integer use the hand-written parser below.
 */

/** A JSON value. Integers outside Number's safe range are `bigint`. */
export type Json = null | boolean | number | bigint | string | Json[] | { [k: string]: Json };

/** A JSON object. */
export type JsonObject = { [k: string]: Json };

/** Default maximum nesting depth of arrays and objects, as in OVS. */
export const DEFAULT_MAX_DEPTH = 1000;

/** Why a text could not be parsed or a value could not be printed. */
export type JsonErrorKind = 'syntax' | 'too-deep' | 'unrepresentable';

/** Thrown by {@link parseJson} and {@link stringifyJson}. */
export class JsonError extends Error {
  override readonly name = 'JsonError';
  constructor(
    /** What went wrong: bad syntax, nesting deeper than allowed, or a value JSON cannot hold. */
    readonly kind: JsonErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link parseJson} and {@link stringifyJson}. */
export interface JsonOptions {
  /**
   * Maximum nesting depth of arrays/objects (a bare scalar has depth 0, `[]` depth 1). Deeper
   * input throws a {@link JsonError} of kind `too-deep`. Default {@link DEFAULT_MAX_DEPTH}.
   * `Infinity` skips the check (for callers, such as the JSON framer, that already checked it).
   */
  maxDepth?: number;
}

/** Any run of 16 or more digits (possibly inside a string: then the slow path is merely used). */
const LONG_DIGITS = /\d{16}/;

/**
 * Parses one JSON text. Integer literals that do not fit a `number` exactly become `bigint`;
 * reals (with a fraction or exponent) are `number`. Throws {@link JsonError}.
 */
export function parseJson(text: string, opts: JsonOptions = {}): Json {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  // A text of n characters cannot nest deeper than n/2 levels and still be valid JSON, so short
  // texts need no depth scan.
  if (maxDepth !== Infinity && text.length > maxDepth * 2) checkDepth(text, maxDepth);
  if (!LONG_DIGITS.test(text)) {
    try {
      return JSON.parse(text) as Json;
    } catch (e) {
      throw new JsonError('syntax', (e as Error).message);
    }
  }
  return new Parser(text, maxDepth).parseDocument();
}

/** Throws `too-deep` if brackets outside strings nest deeper than `maxDepth`. */
function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) {
        throw new JsonError('too-deep', `JSON nesting deeper than ${maxDepth} levels`);
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Recursive-descent parser for texts that may hold big integers. */
class Parser {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  parseDocument(): Json {
    let v: Json;
    try {
      v = this.value(0);
    } catch (e) {
      if (e instanceof RangeError) throw new JsonError('too-deep', 'JSON nesting too deep');
      throw e;
    }
    this.ws();
    if (this.pos !== this.text.length) this.fail('unexpected text after JSON value');
    return v;
  }

  private fail(what: string): never {
    throw new JsonError('syntax', `${what} at position ${this.pos}`);
  }

  private ws(): void {
    const t = this.text;
    while (this.pos < t.length && isWs(t.charCodeAt(this.pos))) this.pos++;
  }

  private value(depth: number): Json {
    this.ws();
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(this.pos >= t.length ? 'unexpected end of JSON' : 'unexpected character');
    }
  }

  private literal<T extends Json>(word: string, v: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return v;
  }

  private number(): number | bigint {
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.text);
    if (!m) return this.fail('invalid number');
    this.pos += m[0].length;
    const lit = m[0];
    if (m[1] === undefined && m[2] === undefined) {
      const n = Number(lit);
      if (Number.isSafeInteger(n)) return n;
      return BigInt(lit);
    }
    return Number(lit);
  }

  private string(): string {
    const t = this.text;
    const start = this.pos;
    let i = start + 1;
    let escaped = false;
    for (;;) {
      if (i >= t.length) return this.fail('unterminated string');
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        i += 2;
        continue;
      }
      if (c < 0x20) {
        this.pos = i;
        this.fail('control character in string');
      }
      i++;
    }
    this.pos = i + 1;
    if (!escaped) return t.slice(start + 1, i);
    try {
      return JSON.parse(t.slice(start, i + 1)) as string;
    } catch {
      this.pos = start;
      return this.fail('invalid string escape');
    }
  }

  private array(depth: number): Json[] {
    if (depth > this.maxDepth) {
      throw new JsonError('too-deep', `JSON nesting deeper than ${this.maxDepth} levels`);
    }
    this.pos++;
    const out: Json[] = [];
    this.ws();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x5d) return out;
      if (c !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  private object(depth: number): JsonObject {
    if (depth > this.maxDepth) {
      throw new JsonError('too-deep', `JSON nesting deeper than ${this.maxDepth} levels`);
    }
    this.pos++;
    const out: JsonObject = {};
    this.ws();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected object key');
      const key = this.string();
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':'");
      this.pos++;
      const v = this.value(depth);
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[key] = v;
      }
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x7d) return out;
      if (c !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or '}'");
      }
    }
  }
}

/**
 * Prints `v` as compact JSON. `bigint` prints as digits. A `number` that is an integer within the
 * safe range prints as an integer; one outside it (a real that happens to be integral, e.g. 2^63)
 * prints in exponent form so that it re-parses as a real, not as a bigint. NaN, ±Infinity,
 * `undefined`, functions and symbols throw {@link JsonError} (`unrepresentable`).
 */
export function stringifyJson(v: Json, opts: JsonOptions = {}): string {
  return write(v, 0, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
}

function write(x: Json, depth: number, maxDepth: number): string {
  switch (typeof x) {
    case 'string':
      return JSON.stringify(x);
    case 'number':
      return formatNumber(x);
    case 'bigint':
      return x.toString();
    case 'boolean':
      return x ? 'true' : 'false';
    case 'object':
      break;
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new JsonError('unrepresentable', `cannot print a ${typeof x} as JSON`);
  }
  if (x === null) return 'null';
  if (depth >= maxDepth) {
    throw new JsonError('too-deep', `JSON nesting deeper than ${maxDepth} levels`);
  }
  if (Array.isArray(x)) {
    if (x.length === 0) return '[]';
    let out = '[' + write(x[0] as Json, depth + 1, maxDepth);
    for (let i = 1; i < x.length; i++) out += ',' + write(x[i] as Json, depth + 1, maxDepth);
    return out + ']';
  }
  let out = '{';
  for (const k in x) {
    if (!Object.prototype.hasOwnProperty.call(x, k)) continue;
    const val = x[k];
    if (val === undefined) continue; // as JSON.stringify does
    if (out.length > 1) out += ',';
    out += JSON.stringify(k) + ':' + write(val, depth + 1, maxDepth);
  }
  return out + '}';
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) throw new JsonError('unrepresentable', `cannot print ${x} as JSON`);
  if (Number.isInteger(x) && !Number.isSafeInteger(x)) return x.toExponential();
  return String(x);
}

/** True if `v` is a JSON object (not null, not an array). */
export function isJsonObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
