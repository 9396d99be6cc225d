// The simulator's runner on a ManualClock with a fake transport: steps happen at exactly
// their scheduled instants, reboots drop the connection, batches, summary counts.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { payloadFactory } from '../../src/simulate/generator.js';
import { rngFor } from '../../src/simulate/prng.js';
import { expected, frame, runDevice, SimStats, type Outcome, type Transport } from '../../src/simulate/runner.js';
import { deviceSchedule, type ScheduleOptions, type SimReading, type Step } from '../../src/simulate/schedule.js';

const cpu = loadProfilesOrThrow([BUNDLED_PROFILES_DIR]).get('cpu-monitor')!;
const START = 1_700_000_000_000;

function schedule(opts: Partial<ScheduleOptions>, index = 0): Step[] {
  const o: ScheduleOptions = { seed: 9, rate: 10, jitter: 0.2, lateFraction: 0, lateMs: 0, malformedRate: 0, rebootEveryMs: 0, rebootDownMs: 0, startEpochMs: START, ...opts };
  return [...deviceSchedule(payloadFactory(cpu, 'http', index, rngFor(o.seed, 'values', index)), index, o)];
}

/** Records what it was asked to do and when; answers like a gateway would (422 for a bad payload). */
class FakeTransport implements Transport {
  log: Array<{ at: number; what: 'send' | 'disconnect' | 'close'; payload?: string; contentType?: string }> = [];
  constructor(private readonly clock: ManualClock, private readonly answer: (payload: string) => Outcome = gatewayLike) {}
  async send(payload: Buffer, contentType: string): Promise<Outcome> {
    this.log.push({ at: this.clock.monotonic(), what: 'send', payload: payload.toString(), contentType });
    return this.answer(payload.toString());
  }
  async disconnect(): Promise<void> {
    this.log.push({ at: this.clock.monotonic(), what: 'disconnect' });
  }
  async close(): Promise<void> {
    this.log.push({ at: this.clock.monotonic(), what: 'close' });
  }
}

function gatewayLike(payload: string): Outcome {
  const docs = payload.trim().split('\n').flatMap((l) => {
    try {
      const v = JSON.parse(l) as unknown;
      return Array.isArray(v) ? v : [v];
    } catch {
      return [null];
    }
  });
  const ok = docs.filter((d) => d && typeof (d as { usage?: unknown }).usage === 'number' && (d as { usage: number }).usage <= 100 && (d as { hostname?: unknown }).hostname);
  return ok.length > 0 && !docs.includes(null) ? { code: '200', outcome: 'ack' } : { code: '422', outcome: 'reject', detail: 'dead-lettered' };
}

/** Runs `steps` to the end on a manual clock, advancing it 1 ms at a time. */
async function play(steps: Step[], opts: { batch?: number; ndjson?: boolean; answer?: (p: string) => Outcome; abortAt?: number } = {}) {
  const clock = new ManualClock(START);
  const transport = new FakeTransport(clock, opts.answer);
  const stats = new SimStats();
  const abort = new AbortController();
  let done = false;
  const run = runDevice(steps[Symbol.iterator](), transport, { clock, stats, framing: { batch: opts.batch ?? 1, ndjson: opts.ndjson ?? false }, signal: abort.signal })
    .then(() => (done = true));
  const end = steps.at(-1)!.at + 10;
  for (let t = 0; t <= end && !done; t++) {
    if (t === opts.abortAt) abort.abort();
    clock.advance(1);
    await Promise.resolve();
  }
  await run;
  return { transport, stats };
}

describe('runner on a ManualClock', () => {
  it('sends each reading at exactly its scheduled instant, in schedule order', async () => {
    const steps = schedule({ count: 50, lateFraction: 0.2, lateMs: 300 });
    // Advance in one go: the runner arms its next timer inside the previous one.
    const clock = new ManualClock(START);
    const transport = new FakeTransport(clock);
    const stats = new SimStats();
    const run = runDevice(steps[Symbol.iterator](), transport, { clock, stats, framing: { batch: 1, ndjson: false } });
    clock.advance(60_000);
    await run;
    const sent = transport.log.filter((l) => l.what === 'send');
    const want = steps.flatMap((s) => (s.kind === 'send' ? [{ at: s.at, payload: s.reading.payload }] : []));
    expect(sent.map((l) => ({ at: l.at, payload: l.payload }))).toEqual(want);
    expect(transport.log.at(-1)).toEqual({ at: 60_000, what: 'close' });
    expect(sent.every((l) => l.contentType === 'application/json')).toBe(true);
    expect(stats).toMatchObject({ messages: 50, sent: 50, acknowledged: 50, late: 11, outOfOrder: 7, errors: 0, outcomes: { 200: 50 } });
  });

  it('a reboot disconnects at its instant; nothing is sent until the device is back', async () => {
    const steps = schedule({ count: 200, rebootEveryMs: 5000, rebootDownMs: 2000 });
    const reboots = steps.filter((s): s is Extract<Step, { kind: 'reboot' }> => s.kind === 'reboot');
    expect(reboots.map((r) => [r.at, r.downMs])).toEqual([[5641, 1023], [12_667, 2481], [21_303, 2099]]);
    const { transport, stats } = await play(steps);
    const disconnects = transport.log.filter((l) => l.what === 'disconnect').map((l) => l.at);
    expect(disconnects).toEqual(reboots.map((r) => r.at));
    for (const r of reboots) {
      const during = transport.log.filter((l) => l.what === 'send' && l.at >= r.at && l.at < r.at + r.downMs);
      expect(during).toEqual([]);
      expect(transport.log.find((l) => l.what === 'send' && l.at >= r.at)!.at).toBe(r.at + r.downMs);
    }
    expect(stats).toMatchObject({ sent: 200, acknowledged: 200, reboots: 3, errors: 0 });
  });

  it('batches: full batches as JSON arrays, a partial one before each reboot and at the end', async () => {
    const steps = schedule({ count: 23, rebootEveryMs: 900, rebootDownMs: 300 });
    const reboots = steps.filter((s) => s.kind === 'reboot').length;
    expect(reboots).toBe(2);
    const { transport, stats } = await play(steps, { batch: 5 });
    const bodies = transport.log.filter((l) => l.what === 'send').map((l) => JSON.parse(l.payload!) as Array<{ occurred_at: number }>);
    expect(bodies.map((b) => b.length)).toEqual([5, 5, 5, 5, 2, 1]);
    expect(bodies.flat().map((d) => d.occurred_at)).toEqual(steps.flatMap((s) => (s.kind === 'send' ? [s.reading.ts] : [])));
    // Each batch leaves as its last reading is taken; the partial ones as the device goes down.
    expect(transport.log.map((l) => l.what)).toEqual(['send', 'send', 'disconnect', 'send', 'send', 'send', 'disconnect', 'send', 'close']);
    expect(stats).toMatchObject({ messages: 6, sent: 23, acknowledged: 23, reboots: 2, errors: 0 });
  });

  it('NDJSON: one reading per line', async () => {
    const steps = schedule({ count: 7 });
    const { transport } = await play(steps, { batch: 3, ndjson: true });
    const sent = transport.log.filter((l) => l.what === 'send');
    expect(sent.map((l) => l.payload!.split('\n').length - 1)).toEqual([3, 3, 1]);
    expect(sent.every((l) => l.contentType === 'application/x-ndjson' && l.payload!.endsWith('\n'))).toBe(true);
  });

  it('counts outcomes: malformed readings rejected as expected; a failed good reading is an error', async () => {
    const steps = schedule({ count: 300, malformedRate: 0.1 });
    const bad = steps.filter((s) => s.kind === 'send' && s.reading.malformed).length;
    expect(bad).toBe(33);
    const ok = await play(steps);
    expect(ok.stats).toMatchObject({ sent: 300, acknowledged: 267, rejected: 33, failed: 0, malformed: 33, errors: 0, outcomes: { 200: 267, 422: 33 } });

    let n = 0;
    const flaky = (p: string): Outcome => (++n % 100 === 0 ? { code: 'timeout', outcome: 'fail', detail: 'no answer in 60000 ms' } : gatewayLike(p));
    const failing = await play(steps, { answer: flaky });
    expect(failing.stats).toMatchObject({ failed: 3, errors: 3, examples: ['timeout: no answer in 60000 ms'] });
    expect(failing.stats.acknowledged + failing.stats.rejected + failing.stats.failed).toBe(300);
  });

  it('stops taking readings when aborted (SIGINT), flushes the partial batch and closes', async () => {
    const steps = schedule({ count: 1000 });
    const { transport, stats } = await play(steps, { batch: 4, abortAt: 1000 });
    expect(stats.sent).toBe(9);
    expect(transport.log.filter((l) => l.what === 'send').map((l) => (JSON.parse(l.payload!) as unknown[]).length)).toEqual([4, 4, 1]);
    expect(transport.log.at(-1)!.what).toBe('close');
  });
});

describe('framing and expectations', () => {
  const r = (payload: string, malformed = false): SimReading => ({ device: 'd', n: 0, takenAt: 0, ts: 0, late: false, payload, ...(malformed ? { malformed: 'invalid-json' as const } : {}) });
  it('frames one reading as itself, a batch as an array or as NDJSON', () => {
    expect(frame([r('{"a":1}')], { batch: 1, ndjson: false }).payload.toString()).toBe('{"a":1}');
    expect(frame([r('{"a":1}')], { batch: 5, ndjson: false }).payload.toString()).toBe('[{"a":1}]');
    expect(frame([r('{"a":1}'), r('{"a":2}')], { batch: 2, ndjson: false }).payload.toString()).toBe('[{"a":1},{"a":2}]');
    expect(frame([r('{"a":1}'), r('{"a":2}')], { batch: 2, ndjson: true })).toEqual({ payload: Buffer.from('{"a":1}\n{"a":2}\n'), contentType: 'application/x-ndjson' });
  });
  it('a good message must be acknowledged; a malformed one may be acknowledged or rejected, not fail', () => {
    expect(expected({ code: 'PUBACK', outcome: 'ack' }, false)).toBe(true);
    expect(expected({ code: 'QoS0', outcome: 'none' }, false)).toBe(true);
    expect(expected({ code: '4.00', outcome: 'reject' }, false)).toBe(false);
    expect(expected({ code: '4.00', outcome: 'reject' }, true)).toBe(true);
    expect(expected({ code: '5.03', outcome: 'fail' }, true)).toBe(false);
    expect(expected({ code: 'timeout', outcome: 'fail' }, false)).toBe(false);
  });
});
