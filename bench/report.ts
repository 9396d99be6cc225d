// The summary table: each figure beside its peer, the ratio, and the issue's target.
/* eslint-disable @typescript-eslint/no-explicit-any -- results are the JSON the scenarios wrote */

const f = (n: number | undefined, d = 0) =>
  n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const ok = (pass: boolean | undefined) => (pass === undefined ? '' : pass ? 'met' : 'MISSED');

/** Pi 4 ≈ 0.1×, Pi 5 ≈ 0.3× a modern x86 core (shared/notes/engineering-facts.md). */
const PI4 = 10, PI5 = 1 / 0.3;

/** Nearest-rank percentile of an ascending list (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]! : NaN;
}

/** p50, p99 and max of latencies in any order. */
export function latencySummary(v: number[]): { p50: number; p99: number; max: number } {
  const s = [...v].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1] ?? NaN };
}

export function printTable(r: Record<string, any>): void {
  const rows: string[][] = [];
  const { ingest, latency, drain, memory } = r;
  if (ingest) {
    const w = ingest.weir, m = ingest.mosquitto;
    rows.push(['Durable ingest, readings/s end to end (QoS 1 → journal → Kafka acks=all)', f(w.endToEndPerSec),
      `Mosquitto, no persistence: ${f(m.acksPerSec)} acks/s (${f(m.before.acksPerSec)} before, ${f(m.after.acksPerSec)} after)`, `${f(ingest.ratio, 2)}×`, '≥ 0.5× (goal 1×)', ok(ingest.ratio >= 0.5)]);
    rows.push(['  of which journal only (PUBACKs/s seen by the generator)', f(w.journalAcksPerSec), '', `${f(w.journalAcksPerSec / m.acksPerSec, 2)}×`, '', '']);
    rows.push(['Flash: bytes written per payload byte', f(w.writtenPerPayloadByte, 2),
      `${f(w.writtenPerReading)} B written per ${f(w.payloadBytesPerReading)} B reading; stored row ${f(w.storedRowBytes)} B; ${f(w.readingsPerCommit)} readings/commit`,
      '', '≤ 3', ok(w.writtenPerPayloadByte <= 3)]);
    const n = ingest.readings / 1e6;
    rows.push(['CPU-seconds per 1M readings (gateway process)', f(w.cpuSecondsPer1M, 1),
      `Pi 4 ≈ ${f(w.cpuSecondsPer1M * PI4)} s, Pi 5 ≈ ${f(w.cpuSecondsPer1M * PI5)} s; Mosquitto ${f(m.before.cpuS.mosquitto / n, 1)} s (its generator ${f(m.before.cpuS.generator / n, 1)} s)`, '', '(estimate)', '']);
    rows.push(['  context: generator / Kafka JVM / rest of machine, CPU-s per 1M', '',
      `${f(w.cpuS.generator / n, 1)} / ${f(w.cpuS.kafka / n, 1)} / ${f(w.cpuS.other / n, 1)}`, '', '', '']);
  }
  for (const { fraction, median: run, p99Range } of latency?.levels ?? []) {
    const d = run.deviceToKafkaMs;
    rows.push([`Added latency device → Kafka at ${fraction * 100} % (${f(run.offeredPerSec)}/s), p50 / p99 / max ms`,
      `${f(d.p50)} / ${f(d.p99)} / ${f(d.max)}`,
      `median of ${latency.repeat} runs, p99 ${f(p99Range[0])}–${f(p99Range[1])}; PUBACK p50/p99 ${f(run.pubackMs.p50, 1)} / ${f(run.pubackMs.p99, 1)} ms; ` +
      `event-loop delay p99/max ${f(run.runtime.eventLoopDelayP99Ms)} / ${f(run.runtime.eventLoopDelayMaxMs)} ms`, '',
      fraction === 0.5 ? 'p99 ≤ 25 ms' : '', fraction === 0.5 ? ok(d.p99 <= 25) : '']);
  }
  if (drain) {
    rows.push([`Drain after ${f(drain.outageS)} s Kafka outage at 50 % (${f(drain.offeredPerSec)}/s): forwarded/s vs ingest/s`,
      `${f(drain.forwardedPerSecDuringDrain)} vs ${f(drain.ingestPerSecDuringDrain.mean)}`,
      `peak backlog ${f(drain.peakBacklog)}, drained in ${f(drain.drainS, 1)} s (net decline ${f(drain.netBacklogDrainPerSec)}/s)`,
      `${f(drain.ratio, 2)}×`, '≥ 3×', ok(drain.ratio >= 3)]);
    rows.push(['  live PUBACKs/s during the drain, mean / min (during the outage)',
      `${f(drain.ingestPerSecDuringDrain.mean)} / ${f(drain.ingestPerSecDuringDrain.min)}`,
      `(${f(drain.ingestPerSecDuringOutage.mean)} / ${f(drain.ingestPerSecDuringOutage.min)})`, '', '> 0, ≈ offered',
      ok(drain.ingestPerSecDuringDrain.min > 0 && drain.ingestPerSecDuringDrain.mean >= 0.9 * drain.offeredPerSec)]);
  }
  if (memory) {
    rows.push(['RSS idle / with N clients connected, MB', `${f(memory.idle.rss)} / ${f(memory.withClients.rss)}`,
      `${memory.withClients.clients} clients`, '', '≤ 150 MB', ok(memory.withClients.rss <= 150)]);
    const pts = memory.backlogPoints as Array<{ backlog: number; rssMB: number; rssAfter3sMB?: number }>;
    const max = Math.max(...pts.map((p) => p.rssMB)), min = Math.min(...pts.map((p) => p.rssMB));
    // Flat: RSS does not grow with the backlog - no step more than 15 % above any step with a
    // smaller backlog. (The spread, max/min, also counts a first step that is higher because
    // V8 had not yet collected the ingest's garbage, which is not growth.)
    const growth = Math.max(1, ...pts.flatMap((p, j) => pts.slice(0, j).map((q) => p.rssMB / q.rssMB)));
    // Results before the settled reading had only the 3 s one, as rssMB.
    const at3s = pts.every((p) => p.rssAfter3sMB !== undefined) ? `3 s after each step (burst garbage not yet collected) ${pts.map((p) => f(p.rssAfter3sMB!)).join(' / ')} MB; ` : '';
    rows.push([`RSS with backlog ${pts.map((p) => f(p.backlog / 1000) + 'k').join(' / ')}, MB${at3s ? `, ${f(memory.settleS)} s after each step` : ''}`, pts.map((p) => f(p.rssMB)).join(' / '),
      `${at3s}peak while ingesting ${f(memory.peakWhileIngesting)} MB; HWM incl. drain ${f(memory.hwmMB)} MB`, `${f(growth, 2)}× growth, ${f(max / min, 2)}× spread`, '≤ 150 MB, flat', ok(Math.max(max, ...pts.map((p) => p.rssAfter3sMB ?? 0)) <= 150 && growth <= 1.15)]);
    rows.push([`Backlog of ${f(memory.backlogN)} drained alone (no live load), readings/s`, f(memory.drainAlonePerSec),
      `ingest while down ${f(memory.ingestWhileDownPerSec)}/s`, '', '', '']);
  }
  const header = ['figure', 'Weir', 'reference / detail', 'ratio', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (c: string[]) => '| ' + c.map((x, i) => x.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log('\n' + line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const row of rows) console.log(line(row));
}
