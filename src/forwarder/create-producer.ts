import type { Context } from '../core/context.js';
import type { Logger } from '../core/logger.js';
import { deferValidatorCompilation } from './platformatic-lazy-ajv.js';
import type { KafkaProducerPort } from './producer.js';

/** Makes the producer of one forwarder. */
export type ProducerFactory = (ctx: Context) => KafkaProducerPort;

/**
 * The Kafka client `kafka.client` names, imported only when asked for: each client
 * library costs megabytes of heap in every thread that loads it (@platformatic/kafka
 * ~8 MB, kafkajs ~2 MB), and only the forwarder's thread needs one. @platformatic/kafka
 * loads with its unused option validators left uncompiled (platformatic-lazy-ajv.ts);
 * should that not apply to the installed version, `log` hears why.
 */
export async function loadProducerFactory(client: Context['config']['kafka']['client'], log?: Pick<Logger, 'warn'>): Promise<ProducerFactory> {
  if (client === 'kafkajs') {
    const { KafkaJsProducer } = await import('./kafkajs-producer.js');
    return (ctx) => new KafkaJsProducer(ctx);
  }
  const lazy = await deferValidatorCompilation();
  if (!lazy.deferred) log?.warn({ why: lazy.why }, "@platformatic/kafka's option validators are compiled at load (more start-up CPU and memory)");
  const { PlatformaticProducer } = await import('./platformatic-producer.js');
  return (ctx) => new PlatformaticProducer(ctx);
}
