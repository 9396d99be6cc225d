import { isDeepStrictEqual } from 'node:util';
import { WeirError, isWeirError } from '../core/errors.js';
import type { ConfigProblem } from '../config/load.js';
import { decoders } from '../decoders/index.js';
import { compileMapper } from './mapper.js';
import type { CompiledProfile, DecodeInput, DecodeResult, Rejection } from './profile.js';
import type { ProfileSpec } from './schema.js';
import { compilePattern } from './topic-pattern.js';

/** Gateway time used when checking samples, so a sample without event time is deterministic. */
const SAMPLE_RECEIVED = 1_700_000_000_000;

/**
 * Builds a CompiledProfile from a schema-valid spec, then decodes every golden sample
 * and compares it with what the sample expects. Returns problems instead of throwing,
 * so `weir check` can list them all.
 */
export function compileProfile(spec: ProfileSpec, file: string): { profile?: CompiledProfile; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ file, path, message });

  const patterns: CompiledProfile['patterns'] = [];
  spec.match.forEach((rule, i) => {
    const text = 'topic' in rule ? rule.topic : 'path' in rule ? rule.path : rule.port;
    try {
      patterns.push({ protocol: rule.protocol, pattern: compilePattern(text, rule.protocol === 'mqtt') });
    } catch (err) {
      problem(`match.${i}`, (err as Error).message);
    }
  });

  const factory = decoders.get(spec.decoder.type);
  if (!factory) {
    problem('decoder.type', `unknown decoder "${spec.decoder.type}" (known: ${[...decoders.keys()].join(', ')})`);
    return { problems };
  }
  const { type: _type, ...decoderOptions } = spec.decoder;
  const opts = factory.options.safeParse(decoderOptions);
  if (!opts.success) {
    for (const issue of opts.error.issues) problem(['decoder', ...issue.path].join('.'), issue.message);
    return { problems };
  }
  const decoder = factory.create(opts.data);
  const map = compileMapper(spec);

  const decode = (input: DecodeInput): DecodeResult => {
    const result: DecodeResult = { readings: [], rejects: [] };
    let docs: unknown[];
    try {
      docs = decoder.decode(input.payload);
    } catch (err) {
      result.rejects.push(rejection(err));
      return result;
    }
    for (const doc of docs) {
      try {
        result.readings.push(map(doc, input.params, input.received));
      } catch (err) {
        const r = rejection(err);
        if (docs.length > 1) r.payload = Buffer.from(JSON.stringify(doc) ?? 'null');
        result.rejects.push(r);
      }
    }
    return result;
  };

  const profile: CompiledProfile = { name: spec.name, file, spec, patterns, decode };
  spec.samples.forEach((sample, i) => {
    const at = `samples.${i}`;
    const topic = sample.topic ?? patterns[0]?.pattern.source ?? '';
    const params = patterns.map((p) => p.pattern.match(topic)).find((m) => m !== null);
    if (!params) return problem(`${at}.topic`, `"${topic}" matches none of the profile's patterns`);
    const payload = sample.payload !== undefined ? Buffer.from(sample.payload, 'utf8') : Buffer.from(sample.payloadHex ?? '', 'hex');
    const got = decode({ payload, params, received: SAMPLE_RECEIVED });
    if (sample.expectDeadLetter !== undefined) {
      const codes = got.rejects.map((r) => r.code);
      if (!codes.includes(sample.expectDeadLetter as never)) {
        problem(`${at}.expectDeadLetter`, `expected dead letter ${sample.expectDeadLetter}, got ${codes.join(', ') || `${got.readings.length} reading(s)`}`);
      }
      return;
    }
    if (got.rejects.length) return problem(at, `sample was dead-lettered: ${got.rejects.map((r) => `${r.code}: ${r.reason}`).join('; ')}`);
    const expected = (sample.expect ?? []).map((e) => ({ device: e.device, profile: spec.name, ts: e.ts ?? SAMPLE_RECEIVED, tags: e.tags, metrics: e.metrics }));
    if (!isDeepStrictEqual(got.readings, expected)) {
      problem(`${at}.expect`, `sample decodes to ${JSON.stringify(got.readings)}, not ${JSON.stringify(expected)}`);
    }
  });
  return problems.length ? { problems } : { profile, problems };
}

function rejection(err: unknown): Rejection {
  if (isWeirError(err)) return { code: err.code, reason: err.message };
  // A decoder bug must cost one payload, never the process.
  const wrapped = new WeirError('WEIR_DECODE_FAILED', `decoder error: ${(err as Error)?.message ?? String(err)}`);
  return { code: wrapped.code, reason: wrapped.message };
}
