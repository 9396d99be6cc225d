import type { Context } from '../core/context.js';
import { describeError } from '../core/errors.js';

/** The part of aedes' session store (aedes-persistence) that holds one client's session. */
export interface SessionStore {
  cleanSubscriptions(client: { id: string }): Promise<unknown>;
  cleanIncoming?(client: { id: string }): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<{ messageId?: number }>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
}

/** How often expired sessions are looked for, at most: a tenth of the expiry, and never less than once an hour. */
const SWEEP_MAX_MS = 3_600_000;

/**
 * Removes the persistent sessions (CleanSession 0, MQTT 3.1.1 §3.1.2.4) of clients
 * that stayed away for `mqtt.sessionExpirySeconds`: their subscriptions, the QoS 1/2
 * messages queued for them, and their unfinished QoS 2 exchanges. aedes keeps such a
 * session for as long as the process runs, ~1 KB each plus every message queued for
 * it, so devices that connect with fresh client ids and CleanSession 0 (or that
 * subscribed once and never came back) would grow the gateway without bound. Mosquitto
 * offers the same bound (`persistent_client_expiration`); MQTT 5 makes it a per-session
 * Session Expiry Interval (§3.1.2.11). A client that comes back afterwards finds no
 * session (CONNACK Session Present 0, §3.2.2.2) and subscribes again.
 *
 * Call order: start() → connected(id) / disconnected(id, clean) as the broker reports
 * them → stop(). The sweep runs on ctx.clock's timers. Errors of the store are logged,
 * and the session is retried at the next sweep.
 */
export class SessionExpiry {
  /** Client id → monotonic time it disconnected; Map order is disconnect order (re-inserted on every disconnect). */
  private readonly away = new Map<string, number>();
  private cancel: () => void = () => undefined;
  private sweeping: Promise<number> = Promise.resolve(0);

  constructor(
    private readonly ctx: Context,
    private readonly store: SessionStore,
    private readonly expiryMs: number,
    /** Whether a client with this id is connected now (aedes' broker.clients). */
    private readonly isConnected: (id: string) => boolean,
  ) {}

  start(): void {
    if (this.expiryMs <= 0) return;
    const every = Math.min(SWEEP_MAX_MS, Math.max(1000, Math.floor(this.expiryMs / 10)));
    const arm = (): void => {
      this.cancel = this.ctx.clock.setTimer(every, () => {
        this.sweeping = this.sweep();
        void this.sweeping.finally(arm);
      });
    };
    arm();
  }

  connected(id: string): void {
    this.away.delete(id);
  }

  disconnected(id: string, clean: boolean): void {
    this.away.delete(id);
    if (!clean && this.expiryMs > 0) this.away.set(id, this.ctx.clock.monotonic());
  }

  /** Sessions being kept for clients that are away (not yet expired or removed). */
  get kept(): number {
    return this.away.size;
  }

  /** Removes every session whose client has been away for the expiry; resolves with how many. */
  async sweep(): Promise<number> {
    const cutoff = this.ctx.clock.monotonic() - this.expiryMs;
    const due: string[] = [];
    for (const [id, at] of this.away) {
      if (at > cutoff) break; // the rest left later
      due.push(id);
    }
    let removed = 0;
    for (const id of due) {
      const at = this.away.get(id);
      if (at === undefined || at > cutoff) continue; // came back (and maybe left again) meanwhile
      this.away.delete(id);
      if (this.isConnected(id)) continue;
      try {
        await this.remove(id);
        removed++;
      } catch (err) {
        this.away.set(id, cutoff); // expired still: tried again at the next sweep
        this.ctx.log.warn({ component: 'mqtt', client: id, err: describeError(err) }, 'could not remove an expired MQTT session');
      }
    }
    if (removed > 0) this.ctx.log.info({ component: 'mqtt', removed, expirySeconds: this.expiryMs / 1000 }, 'expired MQTT sessions removed');
    return removed;
  }

  private async remove(id: string): Promise<void> {
    const client = { id };
    await this.store.cleanSubscriptions(client);
    await this.store.cleanIncoming?.(client);
    // The queue is read as a copy (aedes-persistence), then each message cleared by its id.
    for await (const packet of this.store.outgoingStream(client)) await this.store.outgoingClearMessageId(client, packet);
  }

  async stop(): Promise<void> {
    this.cancel();
    await this.sweeping;
  }
}
