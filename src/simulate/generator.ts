import { parsePath, setPath } from '../profiles/field-path.js';
import type { CompiledProfile } from '../profiles/profile.js';

export interface SimulatedDevice {
  id: string;
  /** Topic (or path) this device publishes on, from the profile's first pattern of the protocol. */
  topic: string;
  next(now: number): Buffer;
}

export interface GeneratorOptions {
  /** Fraction of readings stamped `lateMs` in the past (late and out of order). */
  lateFraction: number;
  lateMs: number;
  /** Fraction of payloads replaced by garbage. */
  malformedFraction: number;
  random?: () => number;
}

/**
 * Builds realistic payloads for a JSON profile by inverting its mapping: the device
 * id, event time, tags and metrics are written where the profile reads them. Metric
 * values follow a bounded random walk inside the declared [min, max]; tag values are
 * taken from the profile's golden samples.
 */
export function makeDevices(profile: CompiledProfile, protocol: 'mqtt' | 'coap' | 'http', count: number, opts: GeneratorOptions): SimulatedDevice[] {
  const { spec } = profile;
  if (spec.decoder.type !== 'json') throw new Error(`simulate supports JSON profiles; ${spec.name} uses ${spec.decoder.type}`);
  const pattern = profile.patterns.find((p) => p.protocol === protocol)?.pattern;
  if (!pattern) throw new Error(`profile ${spec.name} accepts no ${protocol} payloads`);
  const random = opts.random ?? Math.random;
  const sampleTags = spec.samples.flatMap((s) => s.expect ?? []).map((e) => e.tags);
  const prefix = spec.name.split('-')[0] ?? 'dev';

  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    const topic = pattern.source.replace(/\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g, (_m, name: string) => (name === 'device' ? id : `${name}-${i % 4}`)).replace(/\/#$/, '');
    const tags = sampleTags[i % Math.max(1, sampleTags.length)] ?? {};
    const walk = Object.fromEntries(Object.entries(spec.metrics).map(([name, m]) => {
      const lo = m.min ?? 0;
      const hi = m.max ?? 100;
      return [name, { lo, hi, value: lo + (hi - lo) * random(), path: parsePath(m.field ?? name), ...m }];
    }));
    return {
      id,
      topic,
      next(now: number): Buffer {
        if (random() < opts.malformedFraction) return Buffer.from(random() < 0.5 ? '{"truncated": ' : 'NaN garbage \u0000\u00ff');
        const doc: Record<string, unknown> = {};
        if ('field' in spec.device) setPath(doc, parsePath(spec.device.field), id);
        if (spec.time) {
          const ts = random() < opts.lateFraction ? now - Math.round(opts.lateMs * (0.5 + random())) : now;
          const f = spec.time.format;
          setPath(doc, parsePath(spec.time.field), f === 'iso8601' ? new Date(ts).toISOString() : f === 's' ? Math.floor(ts / 1000) : ts);
        }
        for (const [tag, src] of Object.entries(spec.tags)) {
          if ('field' in src && tags[tag] !== undefined) setPath(doc, parsePath(src.field), tags[tag]);
        }
        for (const w of Object.values(walk)) {
          w.value = Math.min(w.hi, Math.max(w.lo, w.value + (w.hi - w.lo) * 0.05 * (random() - 0.5)));
          setPath(doc, w.path, Math.round(((w.value - w.offset) / w.scale) * 1000) / 1000);
        }
        return Buffer.from(JSON.stringify(doc));
      },
    };
  });
}
