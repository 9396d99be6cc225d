// The forwarder's thread dies (here: terminated on cue, as an out-of-memory or a native
// crash would end it): until a new thread is up, the gateway must say the uplink is down —
// in /api/status and in /metrics, where the thread's last metrics snapshot stands in for
// it — and then come back by itself and forward again. Real broker, real worker thread.
import type { Worker } from 'node:worker_threads';
import { rmSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { getJson, getText, metric, startInProcess, testSetup } from '../support/gateway.js';
import { waitFor } from '../support/wait.js';
import { useCleanups } from '../unit/support.js';

const defer = useCleanups();

const uplink = async (port: number) => ((await getJson(port, '/api/status')).uplink as { state: string }).state;

describe('the forwarder thread exits', () => {
  it('reports the uplink down until a new thread is up, then forwards again', async () => {
    // A slow first respawn (5 s) leaves time to look at what the gateway reports meanwhile.
    const setup = await testSetup(inject('kafkaBrokers'), { kafka: { retryInitialMs: 5000, retryMaxMs: 5000 } });
    defer(() => rmSync(setup.dir, { recursive: true, force: true }));
    const gw: Gateway = await startInProcess(setup);
    defer(() => gw.stop());
    const port = setup.httpPort;
    await waitFor(async () => (await uplink(port)) === 'up' || null, 30_000, 'uplink up');
    await waitFor(async () => metric(await getText(port, '/metrics'), 'weir_uplink_up') === 1 || null, 10_000, 'weir_uplink_up 1');

    const thread = gw.forwarder as unknown as { worker: Worker | null };
    const exited = new Promise((resolve) => thread.worker!.once('exit', resolve));
    await thread.worker!.terminate();
    await exited;

    expect(await uplink(port)).toBe('down');
    const text = await getText(port, '/metrics');
    expect(metric(text, 'weir_uplink_up')).toBe(0);
    expect(metric(text, 'weir_kafka_errors_total', 'kind="thread"')).toBe(1);

    // The new thread (after the 5 s backoff) connects and forwards what arrives.
    await waitFor(async () => (await uplink(port)) === 'up' || null, 30_000, 'uplink up again');
    const before = gw.journal.stats().ackedThrough;
    gw.emitStatus('after-restart');
    await waitFor(() => gw.journal.stats().ackedThrough > before || null, 30_000, 'forwarded by the new thread');
    expect(metric(await getText(port, '/metrics'), 'weir_uplink_up')).toBe(1);
  }, 90_000);
});
