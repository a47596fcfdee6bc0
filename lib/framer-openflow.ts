/**
 * Message framing for byte streams. {@link OpenFlowFramer} splits an OpenFlow stream into
 * messages using the length field of the 8-byte header. Framers are pure and resumable:
 * `push(chunk)` returns every message completed by `chunk`, keeping any partial tail for the
 * next call, so a stream gives the same messages however it is cut into chunks.
 */

/** Why a framer rejected its input. */
export type FramerErrorReason =
  | 'bad-length' // OpenFlow header length below 8
  | 'too-long' // message larger than the configured maximum
  | 'too-deep' // JSON nesting deeper than the configured maximum
  | 'not-object' // JSON top-level value that is not an object
  | 'invalid-json' // JSON syntax error
  | 'invalid-utf8'; // JSON bytes that are not valid UTF-8

/**
 * A framing error. The stream cannot be resynchronised after one, so the framer that threw it
 * stays failed: every later `push` throws the same error again.
 */
export class FramerError extends Error {
  override readonly name = 'FramerError';
  constructor(
    /** Machine-readable cause. */
    readonly reason: FramerErrorReason,
    message: string,
    /**
     * Messages completed in the same `push` before the bad one, in order. A session should handle
     * these before it closes (OVS answers the requests that precede a protocol error).
     */
    readonly messages: readonly unknown[] = [],
  ) {
    super(message);
  }
}

/** The fixed OpenFlow header size; the length field counts it. */
export const OFP_HEADER_LEN = 8;

/**
 * Splits an OpenFlow byte stream into messages: each starts with the 8-byte header whose
 * big-endian uint16 at offset 2 is the total message length (header included).
 */
export class OpenFlowFramer {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** Length of the partial message once its header is buffered, else 0. */
  private need = 0;
  private error: FramerError | undefined;

  /**
   * Feeds bytes and returns the messages they complete, each a Buffer of exactly its length.
   * A returned Buffer may share memory with `chunk` (no copy when a message lies inside one
   * chunk); do not modify `chunk` afterwards if you keep the messages.
   * Throws {@link FramerError} (`bad-length`) for a length field below 8; the framer then stays
   * failed. Messages completed before the bad header are in the error's `messages`.
   */
  push(chunk: Uint8Array): Buffer[] {
    if (this.error) throw this.error;
    const out: Buffer[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.buffered > 0) {
      // Complete the pending header/message first, then continue on the rest of this chunk.
      // Copy: the message may stay incomplete and the caller may reuse its chunk.
      this.parts.push(Buffer.from(buf));
      this.buffered += buf.length;
      if (this.need === 0) {
        if (this.buffered < 4) return out;
        const joined = Buffer.concat(this.parts, this.buffered);
        this.parts = [joined];
        this.need = joined.readUInt16BE(2);
        if (this.need < OFP_HEADER_LEN) return this.fail(this.need, out);
      }
      if (this.buffered < this.need) return out;
      const all =
        this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.buffered);
      out.push(all.subarray(0, this.need));
      buf = all.subarray(this.need);
      this.parts = [];
      this.buffered = 0;
      this.need = 0;
    }
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt16BE(off + 2);
      if (len < OFP_HEADER_LEN) return this.fail(len, out);
      if (buf.length - off < len) break;
      out.push(buf.subarray(off, off + len));
      off += len;
    }
    if (off < buf.length) {
      // Copy the tail: the caller may reuse its chunk.
      const tail = Buffer.from(buf.subarray(off));
      this.parts = [tail];
      this.buffered = tail.length;
    }
    return out;
  }

  /** Bytes held for an incomplete message. */
  pending(): number {
    return this.buffered;
  }

  private fail(len: number, done: Buffer[]): never {
    this.parts = [];
    this.buffered = 0;
    this.need = 0;
    this.error = new FramerError(
      'bad-length',
      `OpenFlow message length ${len} is shorter than the ${OFP_HEADER_LEN}-byte header`,
      done,
    );
    throw this.error;
  }
}
