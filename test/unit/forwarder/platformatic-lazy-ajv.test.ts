// The real @platformatic/kafka, loaded after deferValidatorCompilation() — as
// create-producer.ts loads it. No broker: constructing a client and validating
// options never connects. This file must be the first in its worker to load the
// client (vitest isolates test files), else the validators were compiled already.
import { describe, expect, it } from 'vitest';
import { deferValidatorCompilation } from '../../../src/forwarder/platformatic-lazy-ajv.js';

const first = await deferValidatorCompilation();
const kafka = await import('@platformatic/kafka');

describe('deferValidatorCompilation (@platformatic/kafka)', () => {
  it('applies to the installed client: its validators are left uncompiled at load', () => {
    // If a client upgrade moves its Ajv instance, this fails instead of the forwarder
    // silently paying the compile cost again.
    expect(first).toEqual({ deferred: true });
    // An ajv-compiled validator carries its schema; a deferred one has none until called.
    expect(kafka.sendOptionsValidator).not.toHaveProperty('schema');
    expect(kafka.producerOptionsValidator).not.toHaveProperty('schema');
  });

  it('a deferred validator validates as ajv does and reports its errors', () => {
    const validate = kafka.sendOptionsValidator as ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };
    expect(validate.errors).toBeNull();
    expect(validate({ messages: [{ topic: 't', value: 'v' }] })).toBe(true);
    expect(validate.errors).toBeNull();
    expect(validate({ messages: [{ topic: 't', value: 'v' }], unexpected: 1 })).toBe(false);
    expect(validate.errors?.[0]?.message).toMatch(/additional properties/);
    expect(validate({ messages: 'not an array' })).toBe(false);
    expect(validate.errors?.some((e) => e.instancePath === '/messages')).toBe(true);
    // And valid again afterwards: errors cleared, as with a compiled validator.
    expect(validate({ messages: [] })).toBe(true);
    expect(validate.errors).toBeNull();
  });

  it('a strict client still rejects bad options through the deferred validators', () => {
    expect(() => new kafka.Producer({ clientId: 'x', bootstrapBrokers: ['127.0.0.1:1'], strict: true, retries: 'many' as unknown as number }))
      .toThrow(/retries/);
    const ok = new kafka.Producer({ clientId: 'x', bootstrapBrokers: ['127.0.0.1:1'], strict: true });
    return ok.close();
  });

  it('a second call keeps the one deferral', async () => {
    expect(await deferValidatorCompilation()).toEqual({ deferred: true });
  });
});
