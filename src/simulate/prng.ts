/**
 * Seeded pseudo-random numbers for the simulator, so a `--seed` run is exact: the
 * same payloads, intervals, late readings, malformed payloads and reboots every time.
 * Not for cryptography.
 */
export type Rng = () => number;

/** mulberry32 (Tommy Ettinger): 32-bit state, uniform in [0, 1), period 2^32. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An independent stream for one concern of one device, e.g. rngFor(seed, 'timing', 3).
 * Each device and each concern (timing, lateness, malformed, values, reboots) draws from
 * its own stream, so a device's behaviour does not depend on how the event loop
 * interleaved the devices, and turning one knob (say --malformed-rate) does not change
 * what the others produce.
 */
export function rngFor(seed: number, ...parts: Array<string | number>): Rng {
  // FNV-1a over the parts, then murmur3's finaliser to spread the bits.
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return mulberry32((h ^ (h >>> 16)) >>> 0);
}
