/**
 * A tiny OpenFlow 1.3 test peer over any Transport: sends encoded messages, collects decoded
 * replies, and waits for a message matching a predicate.
 */
import { OpenFlowFramer } from '../../lib/framer-openflow.js';
import type { Transport } from '../../lib/transport.js';
import { decodeMessage, encodeMessage, type OfpMessage } from '../../openflow/messages.js';

export class OfTestPeer {
  readonly received: OfpMessage[] = [];
  readonly raw: Buffer[] = [];
  closed = false;
  private readonly framer = new OpenFlowFramer();
  private waiters: { pred: (m: OfpMessage) => boolean; resolve: (m: OfpMessage) => void }[] = [];

  constructor(readonly t: Transport) {
    t.on('data', (chunk) => {
      for (const m of this.framer.push(chunk)) {
        this.raw.push(Buffer.from(m));
        let msg: OfpMessage;
        try {
          msg = decodeMessage(m);
        } catch {
          continue;
        }
        this.received.push(msg);
        this.waiters = this.waiters.filter((w) => {
          if (w.pred(msg)) {
            w.resolve(msg);
            return false;
          }
          return true;
        });
      }
    });
    t.on('close', () => {
      this.closed = true;
    });
  }

  send(m: OfpMessage): void {
    this.t.write(encodeMessage(m));
  }

  sendRaw(b: Uint8Array): void {
    this.t.write(b);
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  waitFor(pred: (m: OfpMessage) => boolean, timeoutMs = 3000): Promise<OfpMessage> {
    const have = this.received.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('timed out waiting for an OpenFlow message')),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  waitType<T extends OfpMessage['type']>(
    type: T,
    xid?: number,
  ): Promise<Extract<OfpMessage, { type: T }>> {
    return this.waitFor((m) => m.type === type && (xid === undefined || m.xid === xid)) as Promise<
      Extract<OfpMessage, { type: T }>
    >;
  }

  waitClosed(timeoutMs = 3000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.t.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sends HELLO (v1.3 with bitmap) and waits for the switch's HELLO. */
  async hello(): Promise<void> {
    this.send({
      type: 'HELLO',
      xid: 1,
      version: 4,
      elements: [{ type: 'VERSIONBITMAP', bitmaps: [1 << 4] }],
    });
    await this.waitType('HELLO');
    // Round trip so the switch has processed our HELLO before the caller goes on.
    this.send({ type: 'ECHO_REQUEST', xid: 0xfffffff0, data: new Uint8Array(0) });
    await this.waitType('ECHO_REPLY', 0xfffffff0);
  }
}
