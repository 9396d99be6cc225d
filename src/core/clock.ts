/**
 * Time, behind an interface so tests are exact: the gateway never calls Date.now()
 * or setTimeout directly on a path whose behaviour depends on time.
 */
export interface Clock {
  /** Wall-clock time, epoch milliseconds (may jump: NTP, no RTC on a Pi). */
  now(): number;
  /** Monotonic milliseconds since an arbitrary origin; never jumps. */
  monotonic(): number;
  /** Runs `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** A clock that moves only when told to; timers fire in due order on advance(). */
export class ManualClock implements Clock {
  private wall: number;
  private mono = 0;
  private timers: Array<{ due: number; fn: () => void; id: number }> = [];
  private nextId = 0;

  constructor(startEpochMs = 1_700_000_000_000) {
    this.wall = startEpochMs;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ due: this.mono + Math.max(0, ms), fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  /** Moves both clocks forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.mono + ms;
    for (;;) {
      this.timers.sort((a, b) => a.due - b.due || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.due > target) break;
      this.timers.shift();
      this.wall += next.due - this.mono;
      this.mono = next.due;
      next.fn();
    }
    this.wall += target - this.mono;
    this.mono = target;
  }

  /** Makes the wall clock jump (an NTP step) without moving monotonic time. */
  jumpWall(toEpochMs: number): void {
    this.wall = toEpochMs;
  }
}
