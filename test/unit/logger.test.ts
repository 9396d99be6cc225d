import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { LogThrottle } from '../../src/core/log-throttle.js';
import { createLogger } from '../../src/core/logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { chunks.push(chunk.toString()); cb(); } });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l)) };
}

describe('logger', () => {
  it('writes JSON lines with the component of a child logger, and redacts credentials', () => {
    const out = capture();
    const log = createLogger('info', out.stream).child({ component: 'forwarder' });
    log.info({ password: 'hunter2', kafka: { sasl: { username: 'u', password: 'p' } }, nested: { token: 't0k' }, brokers: ['b:1'] }, 'connecting');
    log.debug('not at info level');
    const [line, ...rest] = out.lines();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 30, component: 'forwarder', msg: 'connecting', brokers: ['b:1'], password: '[redacted]' });
    expect(JSON.stringify(line)).not.toMatch(/hunter2|t0k|"p"/);
    expect((line!.kafka as Record<string, unknown>).sasl).toBe('[redacted]');
  });
});

describe('LogThrottle', () => {
  it('logs a kind at most once per interval, the next line saying how many were left out; kinds are apart', () => {
    const out = capture();
    const clock = new ManualClock();
    const warnings = new LogThrottle(createLogger('info', out.stream), clock, 60_000);
    for (let i = 0; i < 1000; i++) warnings.warn('oversize', { client: `c${i}` }, 'too large');
    warnings.warn('qos0-lost', { client: 'x' }, 'lost');
    clock.advance(59_999);
    warnings.warn('oversize', { client: 'late' }, 'too large'); // still inside the minute
    clock.advance(1);
    warnings.warn('oversize', { client: 'next' }, 'too large');
    warnings.warn('oversize', { client: 'after' }, 'too large');
    clock.advance(60_000);
    warnings.warn('oversize', { client: 'quiet' }, 'too large'); // nothing was left out since
    expect(out.lines().map(({ msg, client, suppressed, sinceMs }) => ({ msg, client, suppressed, sinceMs }))).toEqual([
      { msg: 'too large', client: 'c0', suppressed: undefined, sinceMs: undefined },
      { msg: 'lost', client: 'x', suppressed: undefined, sinceMs: undefined },
      { msg: 'too large', client: 'next', suppressed: 1000, sinceMs: 60_000 },
      { msg: 'too large', client: 'quiet', suppressed: 1, sinceMs: 60_000 },
    ]);
  });
});
