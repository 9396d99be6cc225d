import type { Clock } from '../core/clock.js';

/**
 * The forwarder loop's pauses, one at a time, on the context's clock (so tests run
 * them on a manual one):
 * - idle(ms): nothing to send; ends at a commit, an interrupt or `ms`, whichever is first;
 * - hold(ms): a backoff between attempts at a down uplink, or the linger; ends at an
 *   interrupt or `ms`, NOT at a commit — under live traffic commits come every few
 *   milliseconds and would cut every backoff short (hammering an unreachable broker)
 *   and end every linger at once.
 *
 * Call order: one idle() or hold() awaited at a time; committed() from the journal's
 * commit listener, interrupt() to end the pause now (stop). Both are no-ops with no
 * pause running. No errors.
 */
export class Waits {
  private wake: (() => void) | null = null;
  /** The current pause ends at a commit (idle), or not (hold). */
  private wakeOnCommit = false;

  constructor(private readonly clock: Clock) {}

  idle(ms: number): Promise<void> {
    return this.pause(ms, true);
  }

  hold(ms: number): Promise<void> {
    return this.pause(ms, false);
  }

  /** A commit: ends an idle pause. */
  committed(): void {
    if (this.wakeOnCommit) this.interrupt();
  }

  /** Ends the current pause, whichever kind. */
  interrupt(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private pause(ms: number, untilCommit: boolean): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.clock.setTimer(ms, () => this.interrupt());
      this.wakeOnCommit = untilCommit;
      this.wake = () => {
        cancel();
        this.wakeOnCommit = false;
        resolve();
      };
    });
  }
}
