import { rescale } from '../decoders/util.js';
import { parsePath, setPath, type FieldPath } from '../profiles/field-path.js';
import type { CompiledProfile } from '../profiles/profile.js';
import type { Rng } from './prng.js';

export type SimProtocol = 'mqtt' | 'coap' | 'http';

/**
 * What a buggy device sends instead of a good reading:
 * - `invalid-json`: the JSON text cut off halfway (a truncated write);
 * - `wrong-shape`: a metric as the string "n/a" instead of a number;
 * - `missing-device`: no device id (only for profiles that read it from a field);
 * - `out-of-range`: a metric beyond its declared min/max (only for metrics that declare one).
 */
export type MalformedKind = 'invalid-json' | 'wrong-shape' | 'missing-device' | 'out-of-range';

/** One simulated device's payloads, written where its profile reads them. */
export interface PayloadFactory {
  readonly id: string;
  /** Topic (MQTT) or path (CoAP, HTTP under /ingest/) it sends to, from the profile's first pattern of the protocol. */
  readonly topic: string;
  /** The malformed kinds this profile lets the device produce. */
  readonly malformedKinds: readonly MalformedKind[];
  /** The JSON text of one reading taken at `ts` (epoch ms), or a malformed one. Advances the metrics' random walk. */
  reading(ts: number, malformed?: MalformedKind): string;
}

interface Walk {
  path: FieldPath;
  lo: number;
  hi: number;
  min: number | undefined;
  max: number | undefined;
  scale: number;
  offset: number;
  required: boolean;
  value: number;
}

/** Device `index` (0-based) is named `<profile prefix>-NNNN`, 1-based: cpu-0001. */
export function deviceId(profile: CompiledProfile, index: number): string {
  return `${profile.spec.name.split('-')[0] ?? 'dev'}-${String(index + 1).padStart(4, '0')}`;
}

/**
 * Builds realistic payloads for a JSON profile by inverting its mapping: the device
 * id, event time, tags and metrics are written where the profile reads them. Metric
 * values follow a bounded random walk inside the declared [min, max] (drawn from
 * `rng`, the device's own stream); tag values are taken from the profile's golden samples.
 */
export function payloadFactory(profile: CompiledProfile, protocol: SimProtocol, index: number, rng: Rng): PayloadFactory {
  const { spec } = profile;
  if (spec.decoder.type !== 'json') throw new Error(`simulate supports JSON profiles; ${spec.name} uses ${spec.decoder.type}`);
  const pattern = profile.patterns.find((p) => p.protocol === protocol)?.pattern;
  if (!pattern) throw new Error(`profile ${spec.name} accepts no ${protocol} payloads`);
  const id = deviceId(profile, index);
  // A `+` level gets a value like any other unnamed one: wildcards are not allowed in the
  // topic name of a PUBLISH (MQTT 3.1.1 §3.3.2.1, [MQTT-3.3.2-2]); a final `#` matches zero levels.
  const topic = pattern.source.split('/').map((seg) => (seg === '+' ? `level-${index % 4}` : seg)).join('/')
    .replace(/\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g, (_m, name: string) => (name === 'device' ? id : `${name}-${index % 4}`)).replace(/\/#$/, '');
  const sampleTags = spec.samples.flatMap((s) => s.expect ?? []).map((e) => e.tags);
  const tags = sampleTags[index % Math.max(1, sampleTags.length)] ?? {};
  const walks: Walk[] = Object.entries(spec.metrics).map(([name, m]) => {
    // An undeclared bound is 0 or 100 (as before), unless that would put it on the wrong
    // side of the declared one: a lone `min: 870` walks 870..970, not pinned to a
    // ceiling of 100 where every good reading would be dead-lettered out of range.
    const lo = m.min ?? (m.max !== undefined && m.max <= 0 ? m.max - 100 : 0);
    const hi = m.max ?? Math.max(lo, 0) + 100;
    return { path: parsePath(m.field ?? name), lo, hi, min: m.min, max: m.max, scale: m.scale, offset: m.offset, required: m.required, value: lo + (hi - lo) * rng() };
  });
  // The metric a malformed payload spoils: a required one if any, so the gateway notices.
  const victim = walks.find((w) => w.required) ?? walks[0]!;
  const ranged = walks.find((w) => w.required && (w.min !== undefined || w.max !== undefined)) ?? walks.find((w) => w.min !== undefined || w.max !== undefined);
  const deviceField = 'field' in spec.device ? parsePath(spec.device.field) : undefined;
  const malformedKinds: MalformedKind[] = ['invalid-json', 'wrong-shape'];
  if (deviceField) malformedKinds.push('missing-device');
  if (ranged) malformedKinds.push('out-of-range');
  const raw = (w: Walk, value: number) => Math.round(((value - w.offset) / w.scale) * 1000) / 1000;
  /**
   * The raw value of a good reading: rounded to 3 decimals as a device prints it, then
   * moved one step inwards when the gateway's rescale would read the rounded value
   * beyond a bound (value = raw × 0.7: max 10 is raw 14.2857…, and 14.286 reads 10.0002).
   */
  const inRange = (w: Walk): number => {
    const r = raw(w, w.value);
    const v = rescale(r, w.scale, w.offset);
    const step = 0.001 * Math.sign(w.scale);
    if (w.max !== undefined && v > w.max) return Math.round((r - step) * 1000) / 1000;
    if (w.min !== undefined && v < w.min) return Math.round((r + step) * 1000) / 1000;
    return r;
  };

  return {
    id,
    topic,
    malformedKinds,
    reading(ts: number, malformed?: MalformedKind): string {
      const doc: Record<string, unknown> = {};
      if (deviceField && malformed !== 'missing-device') setPath(doc, deviceField, id);
      if (spec.time) {
        const f = spec.time.format;
        setPath(doc, parsePath(spec.time.field), f === 'iso8601' ? new Date(ts).toISOString() : f === 's' ? Math.floor(ts / 1000) : ts);
      }
      for (const [tag, src] of Object.entries(spec.tags)) {
        if ('field' in src && tags[tag] !== undefined) setPath(doc, parsePath(src.field), tags[tag]);
      }
      for (const w of walks) {
        w.value = Math.min(w.hi, Math.max(w.lo, w.value + (w.hi - w.lo) * 0.05 * (rng() - 0.5)));
        setPath(doc, w.path, inRange(w));
      }
      if (malformed === 'wrong-shape') setPath(doc, victim.path, 'n/a');
      if (malformed === 'out-of-range' && ranged) {
        const span = ranged.hi - ranged.lo || 1;
        setPath(doc, ranged.path, raw(ranged, ranged.max !== undefined ? ranged.max + span * 0.4 : ranged.min! - span * 0.4));
      }
      const text = JSON.stringify(doc);
      return malformed === 'invalid-json' ? text.slice(0, Math.floor(text.length / 2)) : text;
    },
  };
}
