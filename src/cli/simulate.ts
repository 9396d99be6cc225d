import { setMaxListeners } from 'node:events';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { WeirError } from '../core/errors.js';
import { loadProfilesOrThrow, profileDirs } from '../profiles/registry.js';
import { payloadFactory, type SimProtocol } from '../simulate/generator.js';
import { rngFor } from '../simulate/prng.js';
import { runDevice, SimStats, type Transport } from '../simulate/runner.js';
import { deviceSchedule, type ScheduleOptions } from '../simulate/schedule.js';
import { coapTarget, coapTransport, httpTransport, mqttTransport } from '../simulate/transports.js';
import { parse } from './args.js';

export const SIMULATE_USAGE = `usage: weir simulate --profile P (--mqtt URL | --coap URL | --http URL) [options]

  --mqtt URL            devices are MQTT clients (mqtt://host:port), one connection each
  --coap URL|HOST:PORT  devices POST confirmable CoAP requests (to the profile's CoAP path,
                        e.g. /iot-data-input, unless the URL has a path), one endpoint each
  --http URL            devices POST JSON to URL/ingest/<the profile's HTTP path>
  -c FILE               config (for profiles.dirs)
  --devices N           simulated devices (default 10)
  --rate R              readings per second per device (default 1)
  --duration S          stop taking readings after S seconds
  --count N             readings per device (the run ends at --count, --duration or Ctrl-C)
  --jitter PCT          each interval varies by ±PCT % (default 20)
  --seed N              seed of the PRNG: the same seed gives the same run (default: random, printed)
  --late-ms MS          late readings are held back up to MS ms and sent after newer ones (default 15000)
  --late-fraction F     fraction of readings sent late (default 0.05 when --late-ms is given, else 0)
  --malformed-rate F    fraction of malformed payloads: invalid JSON, wrong shape, out of range (default 0)
  --reboot-every-s S    each device reboots about every S seconds (0.5–1.5×S; default never)
  --reboot-down-s S     a reboot keeps the device down about S seconds (0.5–1.5×S; default 3)
  --batch N             --http: N readings per request, as a JSON array (default 1)
  --ndjson              --http: send the readings as NDJSON lines
  --qos 0|1|2           --mqtt: publish QoS (default 1)
  --timeout-s S         a message unanswered after S seconds counts as failed (default 60)

Prints a summary on stderr and as one JSON line on stdout (sent, acknowledged, rejected,
failed, outcomes by answer: PUBACK, 2.04, 4.00, 200, 422, timeout, …). Exit 0 when every
message was answered as expected: good readings acknowledged; a message with a malformed
reading answered with success or 4.xx/4xx; 1 otherwise.`;

/** EXCHANGE_LIFETIME (RFC 7252 §4.8.2, default parameters): how long a server remembers a MID. */
const EXCHANGE_LIFETIME_S = 247;

/**
 * `weir simulate`: N devices sending readings over MQTT, CoAP or HTTP, with jittered
 * rates, late and out-of-order readings, reboots and malformed payloads, all decided by
 * a seeded PRNG (src/simulate/schedule.ts).
 */
export async function simulateCommand(args: string[], clock: Clock = systemClock): Promise<number> {
  const { values } = parse(args, {
    help: { type: 'boolean', short: 'h' },
    config: { type: 'string', short: 'c' },
    profile: { type: 'string' },
    devices: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1' },
    duration: { type: 'string' },
    count: { type: 'string' },
    jitter: { type: 'string', default: '20' },
    seed: { type: 'string' },
    'late-ms': { type: 'string' },
    'late-fraction': { type: 'string' },
    'malformed-rate': { type: 'string' },
    malformed: { type: 'string' }, // the earlier name of --malformed-rate
    'reboot-every-s': { type: 'string', default: '0' },
    'reboot-down-s': { type: 'string', default: '3' },
    batch: { type: 'string', default: '1' },
    ndjson: { type: 'boolean', default: false },
    qos: { type: 'string', default: '1' },
    'timeout-s': { type: 'string', default: '60' },
    mqtt: { type: 'string' },
    coap: { type: 'string' },
    http: { type: 'string' },
  });
  if (values.help) {
    console.log(SIMULATE_USAGE);
    return 0;
  }
  const usage = (why: string) => new WeirError('WEIR_USAGE', `${why}\n\n${SIMULATE_USAGE}`);
  const modes = (['mqtt', 'coap', 'http'] as const).filter((m) => values[m] !== undefined);
  if (!values.profile || modes.length !== 1) throw usage(!values.profile ? 'give --profile' : 'give exactly one of --mqtt, --coap, --http');
  const mode: SimProtocol = modes[0]!;
  const target = values[mode]!;
  const num = (name: string, v: string | undefined, ok: (n: number) => boolean = (n) => n >= 0, what = 'a non-negative number') => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw usage(`--${name} must be ${what}`);
    return n;
  };
  const whole = (n: number) => Number.isInteger(n) && n >= 1;
  const fraction = (n: number) => n >= 0 && n <= 1;
  // A run that can send nothing (no devices, a count or duration of 0) would end at once
  // and exit 0 — "all answered" — which a CI job would take for a pass.
  const devices = num('devices', values.devices, whole, 'a whole number ≥ 1');
  const rate = num('rate', values.rate, (n) => n > 0, 'a number > 0');
  const jitter = num('jitter', values.jitter?.replace(/%$/, ''), (n) => n >= 0 && n < 100, 'a percentage in [0, 100)') / 100;
  const qos = num('qos', values.qos, (n) => n === 0 || n === 1 || n === 2, '0, 1 or 2') as 0 | 1 | 2;
  const batch = num('batch', values.batch, whole, 'a whole number ≥ 1');
  const timeoutMs = num('timeout-s', values['timeout-s'], (n) => n > 0, 'a number > 0') * 1000;
  if (mode !== 'http' && (batch > 1 || values.ndjson)) throw usage('--batch and --ndjson are for --http');
  if (mode !== 'mqtt' && values.qos !== '1') throw usage('--qos is for --mqtt');
  const lateGiven = values['late-ms'] !== undefined || values['late-fraction'] !== undefined;
  const malformedArg = values['malformed-rate'] ?? values.malformed;
  const seed = values.seed !== undefined ? num('seed', values.seed, (n) => Number.isInteger(n), 'an integer') >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const schedule: Omit<ScheduleOptions, 'startEpochMs'> = {
    seed,
    rate,
    jitter,
    ...(values.count !== undefined ? { count: num('count', values.count, whole, 'a whole number ≥ 1') } : {}),
    ...(values.duration !== undefined ? { durationMs: num('duration', values.duration, (n) => n > 0, 'a number > 0') * 1000 } : {}),
    lateMs: num('late-ms', values['late-ms'] ?? '15000'),
    lateFraction: num('late-fraction', values['late-fraction'] ?? (lateGiven ? '0.05' : '0'), fraction, 'a fraction in [0, 1]'),
    malformedRate: num('malformed-rate', malformedArg ?? '0', fraction, 'a fraction in [0, 1]'),
    rebootEveryMs: num('reboot-every-s', values['reboot-every-s']) * 1000,
    rebootDownMs: num('reboot-down-s', values['reboot-down-s']) * 1000,
  };
  if (schedule.lateMs === 0) schedule.lateFraction = 0;
  if (mode === 'coap' && rate > 65536 / EXCHANGE_LIFETIME_S) {
    throw usage(`--rate ${rate} is over what one CoAP endpoint can send without reusing message IDs: 65536 per EXCHANGE_LIFETIME (${EXCHANGE_LIFETIME_S} s) ≈ ${Math.floor(65536 / EXCHANGE_LIFETIME_S)}/s; use more devices`);
  }

  const { config } = loadConfig(resolveConfigPath(values.config));
  const profile = loadProfilesOrThrow(profileDirs(config)).get(values.profile);
  if (!profile) throw new WeirError('WEIR_PROFILE_NOT_FOUND', `no profile "${values.profile}"`);
  const factories = Array.from({ length: devices }, (_, i) => {
    try {
      return payloadFactory(profile, mode, i, rngFor(seed, 'values', i));
    } catch (err) {
      throw usage((err as Error).message);
    }
  });

  const stats = new SimStats();
  const opts = { timeoutMs, stats };
  let makeTransport: (topic: string, id: string) => Transport;
  try {
    // URLs are checked here, before any device starts.
    if (mode === 'mqtt') {
      if (!/^(mqtts?|tcp|tls|wss?):$/.test(new URL(target).protocol)) throw new Error(`--mqtt: expected an mqtt:// URL, not ${target}`);
      makeTransport = (topic, id) => mqttTransport(target, id, topic, qos, opts);
    } else if (mode === 'coap') {
      coapTarget(target, '/');
      makeTransport = (path) => coapTransport(coapTarget(target, path), opts);
    } else {
      const base = new URL(target);
      if (!/^https?:$/.test(base.protocol)) throw new Error(`--http: expected an http:// or https:// URL, not ${target}`);
      makeTransport = (path) => httpTransport(new URL(`${base.pathname.replace(/\/+$/, '')}/ingest/${path.replace(/^\/+/, '')}`, base), opts);
    }
  } catch (err) {
    const msg = (err as Error).message;
    throw usage(msg.startsWith('--') ? msg : `--${mode} ${target}: ${msg}`);
  }

  const stop = new AbortController();
  setMaxListeners(devices + 10, stop.signal); // one abort listener per device
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  const started = clock.monotonic();
  const startEpochMs = clock.now();
  try {
    await Promise.all(factories.map((f, i) => runDevice(deviceSchedule(f, i, { ...schedule, startEpochMs }), makeTransport(f.topic, f.id), {
      clock, stats, framing: { batch, ndjson: values.ndjson ?? false }, signal: stop.signal,
    })));
  } finally {
    process.off('SIGINT', onSigint);
  }

  const { examples, ...counts } = stats;
  const summary = { mode, profile: profile.name, devices, seed, ...counts, ...(examples.length ? { examples } : {}), seconds: (clock.monotonic() - started) / 1000 };
  const outcomes = Object.entries(stats.outcomes).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  console.error(`simulate (${mode}, seed ${seed}): sent ${stats.sent} readings in ${stats.messages} messages; acknowledged ${stats.acknowledged}, rejected ${stats.rejected}, failed ${stats.failed}; outcomes: ${outcomes}; ${stats.errors} unexpected`);
  console.log(JSON.stringify(summary));
  return stats.errors > 0 ? 1 : 0;
}
