// Reads a topic back with the real `kcat` (librdkafka) binary. Asserting through a
// client other than the one under test catches bugs a same-client round trip hides
// (header encoding, key bytes, compression, record batch framing).
import { execFile } from 'node:child_process';

export interface ConsumedRecord {
  key: string | null;
  /** UTF-8 value; a null value (tombstone) is returned as ''. */
  value: string;
  headers: Record<string, string>;
  partition: number;
  offset: number;
}

interface KcatEnvelope {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  // kcat 1.7.1 (Debian 12) prints a flat [name, value, name, value, …] array even
  // though its -h text documents an object; accept both.
  headers?: Array<string | null> | Record<string, string | null>;
}

function runKcat(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('kcat', args, { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (e?.code === 'ENOENT') {
        reject(new Error('kcat not found on PATH: install it with `apt-get install -y kcat`'));
        return;
      }
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A consumeAll `until`: at least `n` distinct records, copies of one record (same weir-seq) counted once. */
export function distinctSeqs(n: number): (records: ConsumedRecord[]) => boolean {
  return (rs) => new Set(rs.map((r) => r.headers['weir-seq'])).size >= n;
}

/** One record per weir-seq (the last copy seen), as the central tier drops redelivered copies. */
export function dedupBySeq(records: ConsumedRecord[]): ConsumedRecord[] {
  return [...new Map(records.map((r) => [r.headers['weir-seq']!, r])).values()];
}

/**
 * Consumes `topic` from the beginning to its current end, repeating until at least
 * `count` records are seen, or `until` holds (or once, when neither is given), or
 * `timeoutMs` passes.
 * Each pass re-reads from offset 0 so the result is always the whole topic, in
 * (partition, offset) order. Throws on timeout with what was seen.
 */
export async function consumeAll(
  brokers: string,
  topic: string,
  opts: { count?: number; timeoutMs: number; until?: (records: ConsumedRecord[]) => boolean },
): Promise<ConsumedRecord[]> {
  const deadline = Date.now() + opts.timeoutMs;
  let records: ConsumedRecord[] = [];
  let lastError = '';
  for (;;) {
    const left = deadline - Date.now();
    // -e: exit at the end of every partition; -q: no informational lines on stderr;
    // fetch.wait.max.ms kept low so a pass over empty partitions ends quickly.
    const r = await runKcat(
      ['-C', '-J', '-e', '-q', '-o', 'beginning', '-b', brokers, '-t', topic,
        '-X', 'fetch.wait.max.ms=100', '-X', 'topic.metadata.refresh.interval.ms=500'],
      Math.max(1000, left),
    );
    if (r.code === 0) {
      records = parse(r.stdout);
      if (opts.until ? opts.until(records) : opts.count === undefined || records.length >= opts.count) return records;
    } else {
      lastError = r.stderr.trim(); // e.g. the topic does not exist yet: keep polling
    }
    if (Date.now() + 200 >= deadline) {
      throw new Error(
        `consumeAll(${topic}): saw ${records.length}${opts.count === undefined ? '' : ` of ${opts.count}`} ` +
          `records in ${opts.timeoutMs} ms${lastError ? `; kcat: ${lastError}` : ''}`,
      );
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

function parse(stdout: string): ConsumedRecord[] {
  const out: ConsumedRecord[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const m = JSON.parse(line) as KcatEnvelope;
    const headers: Record<string, string> = {};
    if (Array.isArray(m.headers)) {
      for (let i = 0; i + 1 < m.headers.length; i += 2) headers[m.headers[i] ?? ''] = m.headers[i + 1] ?? '';
    } else {
      for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = v ?? '';
    }
    out.push({ key: m.key, value: m.payload ?? '', headers, partition: m.partition, offset: m.offset });
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
