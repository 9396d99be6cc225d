import type { Context } from '../core/context.js';
import type { KafkaProducerPort } from './producer.js';

/** Makes the producer of one forwarder. */
export type ProducerFactory = (ctx: Context) => KafkaProducerPort;

/**
 * The Kafka client `kafka.client` names, imported only when asked for: each client
 * library costs megabytes of heap in every thread that loads it (@platformatic/kafka
 * ~8 MB, kafkajs ~2 MB), and only the forwarder's thread needs one.
 */
export async function loadProducerFactory(client: Context['config']['kafka']['client']): Promise<ProducerFactory> {
  if (client === 'kafkajs') {
    const { KafkaJsProducer } = await import('./kafkajs-producer.js');
    return (ctx) => new KafkaJsProducer(ctx);
  }
  const { PlatformaticProducer } = await import('./platformatic-producer.js');
  return (ctx) => new PlatformaticProducer(ctx);
}
