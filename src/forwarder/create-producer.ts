import type { Context } from '../core/context.js';
import { KafkaJsProducer } from './kafkajs-producer.js';
import { PlatformaticProducer } from './platformatic-producer.js';
import type { KafkaProducerPort } from './producer.js';

/** The Kafka client `kafka.client` names. */
export function createProducer(ctx: Context): KafkaProducerPort {
  return ctx.config.kafka.client === 'kafkajs' ? new KafkaJsProducer(ctx) : new PlatformaticProducer(ctx);
}
