// /readyz (Gateway.ready): ready with the journal open and every listener up, and not
// once a stop has begun — even while the sources without a listener, which stop first,
// are still stopping. In-process gateway (gateway-harness.ts).
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Source } from '../../src/sources/source.js';
import { startGateway } from './gateway-harness.js';
import { useCleanups } from './support.js';

const defer = useCleanups();

describe('Gateway.ready()', () => {
  it('says not ready as soon as stop() begins, while a source without a listener is still stopping', async () => {
    const gw = await startGateway(new ManualClock(Date.parse('2026-06-01T00:00:00Z')), defer);
    expect(gw.ready()).toMatchObject({ ready: true, checks: { journal: 'open' } });
    // A source that takes its time to stop (a bridge waiting for its broker's answer), last in the list: it stops first.
    let release!: () => void;
    const slow: Source = { name: 'slow', start: () => Promise.resolve(), stop: () => new Promise<void>((r) => (release = r)), status: () => ({}) };
    (gw as unknown as { sources: Source[] }).sources.push(slow);
    const stopped = gw.stop();
    expect(gw.ready()).toMatchObject({ ready: false, checks: { stopping: true } });
    release();
    await stopped;
    expect(gw.ready().ready).toBe(false);
  });
});
