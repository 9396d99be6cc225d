import { describe, expect, it } from 'vitest';
import { RuleEngine, type Alert, type RuleReading } from '../../../../src/analytics/rules/index.js';
import { mulberry32 } from '../../../../src/simulate/prng.js';

/**
 * Seed 001's workload: hosts × cpus sending {"hostname","cpu","usage","occurred_at"}
 * every second, delivered out of order by up to 10 s (and a few much later), checked
 * against `usage > 90` (one alert episode per (hostname, cpu)), with a reference
 * written independently of the engine.
 */

const T0 = Date.UTC(2022, 0, 21, 10, 20, 0);
const HOSTS = ['doc', 'dopey', 'happy', 'grumpy', 'sneezy', 'bashful', 'sleepy'];
const CPUS = ['cpu1', 'cpu2', 'cpu3', 'cpu4'];

/** Readings in arrival order: event time + a delay of 0–10 s, 3 % of them 10–60 s. */
function workload(seed: number, seconds: number): RuleReading[] {
  const rnd = mulberry32(seed);
  const out: Array<RuleReading & { order: number }> = [];
  let order = 0;
  for (const hostname of HOSTS) {
    for (const cpu of CPUS) {
      let usage = 60 + 30 * rnd();
      for (let sec = 0; sec < seconds; sec++) {
        usage = Math.min(100, Math.max(0, usage + (rnd() - 0.5) * 12 + (rnd() < 0.02 ? 25 : 0) - (rnd() < 0.02 ? 25 : 0)));
        const ts = T0 + sec * 1000 + Math.floor(rnd() * 1000);
        const delay = rnd() < 0.03 ? 10_000 + Math.floor(rnd() * 50_000) : Math.floor(rnd() * 10_000);
        out.push({ device: hostname, profile: 'cpu-monitor', ts, received: ts + delay, tags: { cpu }, metrics: { usage }, order: order++ });
      }
    }
  }
  out.sort((a, b) => a.received - b.received || a.order - b.order);
  return out.map(({ order: _order, ...r }) => r);
}

/** The reference: per (hostname, cpu), in arrival order, with hysteresis h and min duration on the max event time. */
function reference(readings: RuleReading[], h: number, minMs: number): Alert[] {
  const state = new Map<string, { firing: boolean; since: number | null; maxTs: number }>();
  const out: Alert[] = [];
  for (const r of readings) {
    const key = `${r.device}/${r.tags!.cpu}`;
    const st = state.get(key) ?? { firing: false, since: null, maxTs: -Infinity };
    state.set(key, st);
    st.maxTs = Math.max(st.maxTs, r.ts);
    const usage = r.metrics.usage!;
    const alert = { device: r.device, profile: 'cpu-monitor', rule: 'usage-high', kind: 'threshold', metric: 'usage', tags: { cpu: r.tags!.cpu! }, value: usage, ts: r.ts } as const;
    if (st.firing) {
      if (usage <= 90 - h) {
        st.firing = false;
        out.push({ ...alert, state: 'resolved', details: { threshold: 90, hysteresis: h } });
      }
    } else if (usage > 90) {
      st.since ??= st.maxTs;
      if (st.maxTs - st.since >= minMs) {
        out.push({ ...alert, state: 'firing', details: { threshold: 90, heldMs: st.maxTs - st.since } });
        st.firing = true;
        st.since = null;
      }
    } else {
      st.since = null;
    }
  }
  return out;
}

function engineRun(readings: RuleReading[], h: number, minMs: number): { alerts: Alert[]; engine: RuleEngine } {
  const engine = new RuleEngine({
    'cpu-monitor': [{ name: 'usage-high', kind: 'threshold', metric: 'usage', above: 90, hysteresis: h, minDurationMs: minMs, by: ['cpu'] }],
  });
  return { alerts: readings.flatMap((r) => engine.evaluate(r)), engine };
}

describe('seed 001: alert when usage > 90', () => {
  const readings = workload(1, 600);

  it('fires and resolves per (hostname, cpu) exactly as the reference says', () => {
    const { alerts, engine } = engineRun(readings, 0, 0);
    const expected = reference(readings, 0, 0);
    expect(alerts).toEqual(expected);
    // The workload is worth its name: every key fired, and plenty resolved.
    const fired = new Set(alerts.filter((a) => a.state === 'firing').map((a) => `${a.device}/${a.tags.cpu}`));
    expect(fired.size).toBe(HOSTS.length * CPUS.length);
    expect(alerts.filter((a) => a.state === 'resolved').length).toBeGreaterThan(100);
    // Still firing = firing episodes not yet resolved, per key.
    expect(engine.firing().length).toBe(alerts.filter((a) => a.state === 'firing').length - alerts.filter((a) => a.state === 'resolved').length);
    // With the gateway added, each alert carries the contract's weir.alerts fields.
    const record = { gateway: 'gw-1', ...alerts[0]! };
    expect(Object.keys(record)).toEqual(expect.arrayContaining(['gateway', 'device', 'profile', 'rule', 'kind', 'state', 'metric', 'value', 'ts']));
  });

  it('with hysteresis and a minimum duration, still exactly as the reference says', () => {
    const { alerts } = engineRun(readings, 3, 5000);
    expect(alerts).toEqual(reference(readings, 3, 5000));
    expect(alerts.length).toBeGreaterThan(50);
    expect(alerts.length).toBeLessThan(engineRun(readings, 0, 0).alerts.length);
  });
});
