// POST /ingest/<path> with curl: answered only after the commit, and on Kafka.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { consumeAll } from '../support/kcat.js';
import { cpuReading, startInProcess, testSetup, type TestSetup } from '../support/gateway.js';

async function curlPost(port: number, path: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const { stdout } = await promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}', '-X', 'POST', '--data-binary', body, `http://127.0.0.1:${port}${path}`]);
  const lines = stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, json: JSON.parse(lines.join('\n')) };
}

describe('HTTP ingest', () => {
  const brokers = inject('kafkaBrokers');
  let setup: TestSetup;
  let gateway: Gateway;
  beforeAll(async () => {
    setup = await testSetup(brokers);
    gateway = await startInProcess(setup);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('accepts the contract path for cpu-monitor, single and batched, and forwards to Kafka', async () => {
    const one = await curlPost(setup.httpPort, '/ingest/iot-data-input', cpuReading('web-1', 1));
    expect(one).toEqual({ status: 200, json: { accepted: 1, deadLetters: 0, errors: [] } });
    const batch = await curlPost(setup.httpPort, '/ingest/iot-data-input', `[${cpuReading('web-1', 2)},${cpuReading('web-1', 3)}]`);
    expect(batch.json.accepted).toBe(2);
    const records = await consumeAll(brokers, setup.topics.readings, { count: 3, timeoutMs: 30_000 });
    expect(records.map((r) => JSON.parse(r.value).ts - 1_700_000_000_000)).toEqual([1, 2, 3]);
    expect(records.every((r) => r.key === 'web-1')).toBe(true);
  });

  it('takes NDJSON batches with fetch, answering after the commit, in order on Kafka', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => cpuReading('web-3', i)).join('\n');
    const res = await fetch(`http://127.0.0.1:${setup.httpPort}/ingest/iot-data-input`, {
      method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${lines}\n`,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 50, deadLetters: 0, errors: [] });
    const records = (await consumeAll(brokers, setup.topics.readings, { timeoutMs: 30_000, until: (rs) => rs.filter((r) => r.key === 'web-3').length >= 50 }))
      .filter((r) => r.key === 'web-3');
    expect(records.map((r) => JSON.parse(r.value).ts - 1_700_000_000_000)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('tells the client why a payload was dead-lettered', async () => {
    const bad = await curlPost(setup.httpPort, '/ingest/iot-data-input', '{"hostname":"web-2","cpu":"c","usage":"x","occurred_at":1}');
    expect(bad.status).toBe(422);
    expect(bad.json.errors).toEqual([expect.objectContaining({ code: 'WEIR_WRONG_SHAPE' })]);
    const unmatched = await curlPost(setup.httpPort, '/ingest/nowhere', '{}');
    expect(unmatched.status).toBe(404);
    const dead = await consumeAll(brokers, setup.topics.deadletter, { count: 2, timeoutMs: 30_000 });
    expect(dead.map((r) => JSON.parse(r.value).protocol)).toEqual(['http', 'http']);
  });
});
