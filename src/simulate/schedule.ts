import type { MalformedKind, PayloadFactory } from './generator.js';
import { rngFor } from './prng.js';

export interface ScheduleOptions {
  seed: number;
  /** Mean readings per second per device (> 0). */
  rate: number;
  /** Each interval is 1/rate × (1 ± jitter), uniformly; 0 ≤ jitter < 1. */
  jitter: number;
  /** Readings each device takes (default: unbounded). */
  count?: number;
  /** No reading is taken at or after this many ms from the start (default: unbounded). */
  durationMs?: number;
  /** Fraction of readings held back and sent late (after newer ones). */
  lateFraction: number;
  /** A late reading is held back 1..lateMs ms (uniformly) before it is sent. */
  lateMs: number;
  /** Fraction of readings sent malformed (kinds uniformly among the profile's). */
  malformedRate: number;
  /** Mean ms between reboots of one device (each gap uniform in 0.5..1.5 × this); 0 = never. */
  rebootEveryMs: number;
  /** Mean ms a rebooting device stays down (uniform in 0.5..1.5 × this). */
  rebootDownMs: number;
  /** Wall-clock time of the start, epoch ms: event times are startEpochMs + takenAt. */
  startEpochMs: number;
}

/** One reading as the device took it. */
export interface SimReading {
  device: string;
  /** 0-based position in the device's sequence of readings (order taken). */
  n: number;
  /** ms from the start when the reading was taken; its event time is startEpochMs + takenAt. */
  takenAt: number;
  ts: number;
  /** Held back and sent up to lateMs later (so usually after newer readings). */
  late: boolean;
  malformed?: MalformedKind;
  payload: string;
}

/** What a device does, at `at` ms from the start (integer ms, non-decreasing). */
export type Step =
  | { kind: 'send'; at: number; reading: SimReading }
  /** The device goes down now (connection dropped, nothing sent) and is back at at + downMs. */
  | { kind: 'reboot'; at: number; downMs: number };

interface Held {
  sendAt: number;
  reading: SimReading;
}

/**
 * The virtual timeline of device `index`: its readings and reboots, decided entirely
 * by the seed, so a test can count exactly what a run will send. Readings are taken at
 * jittered intervals (the first at a random phase within one interval, so devices do
 * not tick together). A late reading keeps its event time but is sent when its hold-back
 * ends, which puts it behind newer readings. While a device is down it takes no readings;
 * late readings due meanwhile are sent when it is back, oldest first. Late readings
 * still held when the duration ends are sent at the end.
 *
 * Lazy and possibly infinite (no count, no duration): steps are made as they are pulled.
 */
export function* deviceSchedule(factory: PayloadFactory, index: number, opts: ScheduleOptions): Generator<Step, void, undefined> {
  if (!(opts.rate > 0)) throw new Error('rate must be > 0');
  const timing = rngFor(opts.seed, 'timing', index);
  const lateness = rngFor(opts.seed, 'late', index);
  const spoil = rngFor(opts.seed, 'malformed', index);
  const reboots = rngFor(opts.seed, 'reboot', index);
  const interval = 1000 / opts.rate;
  const count = opts.count ?? Infinity;
  const end = opts.durationMs ?? Infinity;
  const kinds = factory.malformedKinds;
  const held: Held[] = [];
  let t = interval * timing();
  let taken = 0;
  let nextReboot = opts.rebootEveryMs > 0 ? opts.rebootEveryMs * (0.5 + reboots()) : Infinity;

  for (;;) {
    const tickAt = taken < count && t < end ? t : Infinity;
    const heldAt = held[0]?.sendAt ?? Infinity;
    const nextWork = Math.min(tickAt, heldAt);
    if (nextWork === Infinity) return;

    if (nextReboot <= nextWork) {
      const downMs = Math.max(1, Math.round(opts.rebootDownMs * (0.5 + reboots())));
      const at = Math.round(nextReboot);
      yield { kind: 'reboot', at, downMs };
      const resume = at + downMs;
      if (t < resume) t = resume;
      for (const h of held) if (h.sendAt < resume) h.sendAt = resume;
      nextReboot = resume + opts.rebootEveryMs * (0.5 + reboots());
      continue;
    }

    if (heldAt <= tickAt) {
      const h = held.shift()!;
      yield { kind: 'send', at: Math.round(h.sendAt), reading: h.reading };
      continue;
    }

    const late = lateness() < opts.lateFraction;
    const malformed = spoil() < opts.malformedRate ? kinds[Math.floor(spoil() * kinds.length)] : undefined;
    const takenAt = Math.round(t);
    const ts = opts.startEpochMs + takenAt;
    const reading: SimReading = { device: factory.id, n: taken++, takenAt, ts, late, ...(malformed ? { malformed } : {}), payload: factory.reading(ts, malformed) };
    if (late) {
      const sendAt = Math.min(takenAt + 1 + Math.floor(lateness() * opts.lateMs), Math.max(takenAt, end));
      held.push({ sendAt, reading });
      held.sort((a, b) => a.sendAt - b.sendAt || a.reading.n - b.reading.n);
    } else {
      yield { kind: 'send', at: takenAt, reading };
    }
    t += interval * (1 + opts.jitter * (2 * timing() - 1));
  }
}
