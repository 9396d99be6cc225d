/**
 * A source's payloads handed to Ingest.submit() whose commit callback has not run
 * yet. Source.stop() waits on drained(), so in-flight commits finish and their
 * devices are acknowledged before the listener closes (see source.ts).
 *
 * Call order: begin() when submitting, end() in the callback (exactly once each);
 * drained() any time. release() lets the waiters go early, when what they waited for
 * can no longer happen (the connection those acknowledgements were for is gone).
 */
export class InFlight {
  private n = 0;
  private waiters: Array<() => void> = [];

  get count(): number {
    return this.n;
  }

  begin(): void {
    this.n++;
  }

  end(): void {
    if (--this.n === 0) this.release();
  }

  /** Resolves once nothing is in flight (at once when nothing is), or at release(). */
  drained(): Promise<void> {
    return this.n === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
