/**
 * A deliberately small, independent JSON-RPC 1.0 client for the appctl socket, as `ovs-appctl`
 * speaks it: one request `{"id":N,"method":cmd,"params":[args...]}`, one reply
 * `{"id":N,"result":text,"error":null}` or `{"id":N,"result":null,"error":text}`. It shares no code
 * with the daemon, so it checks the daemon's wire format rather than mirroring it.
 */
import { connect } from 'node:net';

/** The reply to one appctl request. */
export interface AppctlReply {
  /** The command's output on success, else null. */
  result: unknown;
  /** The error text on failure, else null. */
  error: unknown;
  /** The reply's id (should equal the request's). */
  id: unknown;
}

/**
 * Sends one appctl command over the unix socket `ctl` and resolves with the reply. Rejects on
 * connection errors, a malformed reply, or when `timeoutMs` (default 5000) passes.
 */
export function appctlCall(
  ctl: string,
  method: string,
  params: string[] = [],
  timeoutMs = 5000,
): Promise<AppctlReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(ctl);
    const id = Math.floor(Math.random() * 1e6);
    let buf = '';
    let done = false;
    const finish = (err: Error | undefined, reply?: AppctlReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new Error(`appctl ${method}: no reply`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify({ id, method, params })));
    sock.on('data', (s: string) => {
      buf += s;
      let msg: unknown;
      try {
        msg = JSON.parse(buf);
      } catch {
        return; // Incomplete: wait for more.
      }
      if (typeof msg !== 'object' || msg === null || !('id' in msg)) {
        finish(new Error(`appctl ${method}: malformed reply ${buf}`));
        return;
      }
      const m = msg as Record<string, unknown>;
      finish(undefined, { id: m.id, result: m.result ?? null, error: m.error ?? null });
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`appctl ${method}: connection closed before reply`)));
  });
}

/**
 * Resolves true once `ctl` answers `version`; false if it has not within `timeoutMs`, or as soon as
 * `giveUp()` returns true (e.g. the daemon process has exited).
 */
export async function waitForAppctl(
  ctl: string,
  timeoutMs = 15_000,
  giveUp: () => boolean = () => false,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !giveUp()) {
    try {
      const r = await appctlCall(ctl, 'version', [], 2000);
      if (r.error === null) return true;
    } catch {
      // Not up yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
