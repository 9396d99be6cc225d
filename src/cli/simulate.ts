import mqtt from 'mqtt';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { WeirError } from '../core/errors.js';
import { loadProfilesOrThrow, profileDirs } from '../profiles/registry.js';
import { makeDevices } from '../simulate/generator.js';
import { parse } from './args.js';

/**
 * `weir simulate`: N devices, each an MQTT client publishing R readings/s (jittered)
 * at QoS 1, with optional late/out-of-order readings and malformed payloads.
 * Prints a JSON summary (sent, acknowledged, errors) at the end.
 */
export async function simulateCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string', short: 'c' },
    profile: { type: 'string' },
    devices: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1' },
    duration: { type: 'string' },
    count: { type: 'string' },
    qos: { type: 'string', default: '1' },
    'late-fraction': { type: 'string', default: '0' },
    'late-ms': { type: 'string', default: '15000' },
    malformed: { type: 'string', default: '0' },
    mqtt: { type: 'string' },
    coap: { type: 'string' },
    http: { type: 'string' },
  });
  if (!values.profile || !values.mqtt) {
    if (values.coap || values.http) throw new WeirError('WEIR_USAGE', 'simulate: --coap and --http arrive with the CoAP/HTTP sources; use --mqtt URL');
    throw new WeirError('WEIR_USAGE', 'usage: weir simulate --profile P --devices N --rate R [--duration S] [--count N] --mqtt URL');
  }
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new WeirError('WEIR_USAGE', `--${name} must be a non-negative number`);
    return n;
  };
  const devices = num('devices', values.devices);
  const rate = num('rate', values.rate);
  const qos = num('qos', values.qos) as 0 | 1 | 2;
  const perDevice = values.count !== undefined ? num('count', values.count) : Infinity;
  const durationMs = values.duration !== undefined ? num('duration', values.duration) * 1000 : Infinity;
  const { config } = loadConfig(resolveConfigPath(values.config));
  const profile = loadProfilesOrThrow(profileDirs(config)).get(values.profile);
  if (!profile) throw new WeirError('WEIR_PROFILE_NOT_FOUND', `no profile "${values.profile}"`);
  const sims = makeDevices(profile, 'mqtt', devices, {
    lateFraction: num('late-fraction', values['late-fraction']),
    lateMs: num('late-ms', values['late-ms']),
    malformedFraction: num('malformed', values.malformed),
  });

  const stats = { devices, sent: 0, acknowledged: 0, errors: 0 };
  const started = Date.now();
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  if (Number.isFinite(durationMs)) setTimeout(() => stop.abort(), durationMs).unref();

  await Promise.all(sims.map(async (sim) => {
    const client = await mqtt.connectAsync(values.mqtt!, { clientId: `weir-sim-${sim.id}`, clean: false, reconnectPeriod: 1000 });
    const interval = rate > 0 ? 1000 / rate : 0;
    let sent = 0;
    while (!stop.signal.aborted && sent < perDevice) {
      sent++;
      stats.sent++;
      // Not awaited one by one: a real device keeps sending while earlier PUBACKs travel.
      client.publishAsync(sim.topic, sim.next(Date.now()), { qos }).then(() => stats.acknowledged++, () => stats.errors++);
      if (interval > 0) await new Promise((r) => setTimeout(r, interval * (0.8 + 0.4 * Math.random())));
      else if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    // Wait for outstanding acknowledgements, then leave cleanly.
    await client.endAsync(false);
  }));
  console.log(JSON.stringify({ ...stats, seconds: (Date.now() - started) / 1000 }));
  return stats.errors ? 1 : 0;
}
