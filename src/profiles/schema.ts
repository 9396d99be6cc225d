import { z } from 'zod';
import { ruleListSchema } from '../analytics/rules/schema.js';
import { windowListSchema } from '../analytics/windows/schema.js';

/**
 * The device-profile schema. A profile is data: where payloads come from (match),
 * how bytes become documents (decoder), and how a document becomes a reading
 * (device, time, tags, metrics) — plus golden samples that must decode as stated,
 * checked at every load.
 */

const name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be lower-case a-z 0-9 . _ - (at most 64)');

const matchRule = z.discriminatedUnion('protocol', [
  z.strictObject({ protocol: z.literal('mqtt'), topic: z.string().min(1).describe('MQTT topic pattern, e.g. sensors/{device}/cpu') }),
  z.strictObject({ protocol: z.literal('coap'), path: z.string().min(1).describe('CoAP Uri-Path pattern, e.g. /t/{device}') }),
  z.strictObject({ protocol: z.literal('http'), path: z.string().min(1).describe('Path under POST /ingest/, e.g. iot-data-input') }),
  z.strictObject({ protocol: z.literal('serial'), port: z.string().min(1).describe('Name of a configured serial port') }),
]);

/** Where a value comes from: a document field, a captured topic/path segment, or a constant. */
const valueSource = z.union([
  z.strictObject({ field: z.string().min(1) }),
  z.strictObject({ segment: z.string().min(1) }),
  z.strictObject({ value: z.union([z.string(), z.number()]) }),
]);

const timeSource = z.strictObject({
  field: z.string().min(1).describe('Document field holding the event time.'),
  format: z.enum(['ms', 's', 'iso8601', 'auto']).default('auto')
    .describe('epoch milliseconds, epoch seconds, ISO-8601 text, or auto (numbers above 1e11 are ms, else s; text is ISO-8601).'),
});

const metric = z.strictObject({
  field: z.string().min(1).optional().describe('Document field; defaults to the metric name.'),
  unit: z.string().optional(),
  min: z.number().optional().describe('Smallest valid value (inclusive).'),
  max: z.number().optional().describe('Largest valid value (inclusive).'),
  required: z.boolean().default(false).describe('A document without it is dead-lettered.'),
  scale: z.number().default(1).describe('value = raw * scale + offset'),
  offset: z.number().default(0),
});

const expectedReading = z.strictObject({
  device: z.string(),
  ts: z.number().optional(),
  tags: z.record(z.string(), z.string()).default({}),
  metrics: z.record(z.string(), z.number()),
});

const sample = z.strictObject({
  description: z.string().optional(),
  topic: z.string().optional().describe('Topic or path the sample arrives on; defaults to the first match rule.'),
  payload: z.string().optional().describe('Payload as UTF-8 text.'),
  payloadHex: z.string().regex(/^([0-9a-fA-F]{2})*$/).optional().describe('Payload as hex bytes.'),
  expect: z.array(expectedReading).optional().describe('The readings it must yield.'),
  expectDeadLetter: z.string().optional().describe('The error code it must be dead-lettered with.'),
}).refine((s) => (s.payload === undefined) !== (s.payloadHex === undefined), 'give exactly one of payload, payloadHex')
  .refine((s) => (s.expect === undefined) !== (s.expectDeadLetter === undefined), 'give exactly one of expect, expectDeadLetter');

export const profileSchema = z.strictObject({
  name,
  description: z.string().optional(),
  match: z.array(matchRule).min(1),
  decoder: z.looseObject({ type: z.string() }).default({ type: 'json' }),
  device: valueSource.describe('Device id: a field, a {segment} of the topic/path, or a constant.'),
  time: timeSource.optional().describe('Event time; absent: the gateway time of receipt.'),
  tags: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_.-]*$/), valueSource).default({}),
  metrics: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_.-]*$/), metric)
    .refine((m) => Object.keys(m).length > 0, 'declare at least one metric'),
  outOfRange: z.enum(['deadletter', 'drop-metric']).default('deadletter')
    .describe('A metric outside [min, max]: dead-letter the document, or drop just that metric.'),
  samples: z.array(sample).min(1, 'give at least one golden sample'),
  windows: windowListSchema.default([]).describe('Event-time windows over this profile\'s readings (issue 4); the site config may replace them (analytics.profiles).'),
  rules: ruleListSchema.default([]).describe('Anomaly rules over this profile\'s readings; the site config may replace them (analytics.profiles).'),
});

export type ProfileSpec = z.infer<typeof profileSchema>;
export type MatchRule = z.infer<typeof matchRule>;
export type Protocol = MatchRule['protocol'];
