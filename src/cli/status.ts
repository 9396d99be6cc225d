import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import type { WeirConfig } from '../config/schema.js';
import type { GatewayStatus } from '../gateway/status.js';
import { listSegments } from '../journal/segments.js';
import { streamName } from '../journal/streams.js';
import { parse } from './args.js';

async function fromGateway(config: WeirConfig): Promise<GatewayStatus | null> {
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  // RFC 3986 §3.2.2: an IPv6 address in a URL is written in brackets.
  const authority = `${isIPv6(host) ? `[${host}]` : host}:${config.http.port}`;
  try {
    const res = await fetch(`http://${authority}/api/status`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as GatewayStatus) : null;
  } catch {
    return null;
  }
}

/** With no gateway answering, the journal file still tells the backlog (read-only). */
function fromJournal(config: WeirConfig): Record<string, unknown> | null {
  const file = join(config.dataDir, 'journal.sqlite');
  if (!existsSync(file)) return null;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const acked = Number(db.prepare("SELECT value FROM meta WHERE name = 'acked_through'").pluck().get() ?? 0);
    const backlog: Record<string, number> = {};
    let oldest: number | undefined;
    for (const seg of listSegments(db)) {
      for (const [s, n] of seg.countRange(acked, Number.MAX_SAFE_INTEGER)) backlog[streamName(s)] = (backlog[streamName(s)] ?? 0) + n;
      oldest ??= seg.oldestReceived(acked);
    }
    return { backlog, oldestUnsentAgeSeconds: oldest === undefined ? 0 : (Date.now() - oldest) / 1000 };
  } finally {
    db.close();
  }
}

function mib(bytes: number | null): string {
  return bytes === null ? 'unknown' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function printAnalytics(a: NonNullable<GatewayStatus['analytics']>): void {
  console.log(`analytics    ${a.openWindows} open window(s) over ${a.windowDevices} device(s); ${a.lateReadings} late, ${a.futureReadings} future-stamped reading(s)`);
  console.log(`alerts       ${a.alertsFiring} firing`);
  for (const al of a.firing) {
    const tags = Object.entries(al.tags).map(([k, v]) => `${k}=${v}`).join(',');
    console.log(`  ${al.profile}/${al.device}${tags ? `{${tags}}` : ''} ${al.rule} (${al.kind}) ${al.metric}=${al.value} since ${new Date(al.ts).toISOString()}`);
  }
  if (a.firing.length < a.alertsFiring) console.log(`  … and ${a.alertsFiring - a.firing.length} more`);
}

/** `weir status`: asks the running gateway (/api/status); if none answers, reads the journal. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } });
  const { config } = loadConfig(resolveConfigPath(values.config));
  const live = await fromGateway(config);
  if (live) {
    if (values.json) {
      console.log(JSON.stringify(live, null, 2));
      return 0;
    }
    console.log(`gateway      ${live.gateway} (weir ${live.version}), up ${live.uptimeSeconds} s`);
    console.log(`uplink       ${live.uplink.state} since ${new Date(live.uplink.since).toISOString()}${live.uplink.lastError ? ` — last error: ${live.uplink.lastError}` : ''}`);
    console.log(`backlog      ${live.backlogTotal} record(s) unsent`);
    for (const [stream, n] of Object.entries(live.backlog)) console.log(`  ${stream.padEnd(11)}${n}`);
    console.log(`oldest       ${live.oldestUnsentAgeSeconds.toFixed(1)} s unsent`);
    console.log(`disk         journal ${mib(live.disk.journalBytes)} in ${live.disk.dataDir}, ${mib(live.disk.freeBytes)} free`);
    const d = live.disk;
    if (d.maxBytes !== undefined) {
      const evicted = Object.values(d.evicted ?? {}).reduce((a, b) => a + b, 0);
      console.log(`  cap        ${mib(d.usedBytes ?? 0)} in use of ${d.maxBytes ? mib(d.maxBytes) : 'no cap'}, floor ${mib(d.minFreeBytes ?? 0)} free, policy ${d.policy}${d.refusing ? ' — REFUSING new readings' : ''}`);
      console.log(`  evicted    ${evicted} record(s) in ${d.gaps ?? 0} gap(s)${evicted ? ` ${JSON.stringify(d.evicted)}` : ''}`);
    }
    for (const [name, s] of Object.entries(live.sources)) console.log(`source       ${name} ${JSON.stringify(s)}`);
    if (live.analytics) printAnalytics(live.analytics);
    return 0;
  }
  const offline = fromJournal(config);
  const result = { running: false, uplink: 'unknown (gateway not running)', ...(offline ?? { backlog: {}, note: `no journal in ${config.dataDir}` }) };
  console.log(values.json ? JSON.stringify(result, null, 2) : `gateway not answering on port ${config.http.port}; from the journal:\n${JSON.stringify(result, null, 2)}`);
  return 3;
}
