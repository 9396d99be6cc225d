import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
