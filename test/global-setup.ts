// One Kafka broker for the whole test run: a JVM start costs several seconds and
// ~0.5 GB, too much per test file on a 2-core machine. Tests get its address with
// `inject('kafkaBrokers')` and must use their own topic names (e.g. with a random
// suffix) so files never see each other's records.
// KAFKA_BROKERS=host:port skips the local broker and uses an existing cluster.
import type { TestProject } from 'vitest/node';
import { KafkaBroker } from './support/kafka-broker.js';

let broker: KafkaBroker | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    project.provide('kafkaBrokers', external);
  } else {
    const started = Date.now();
    broker = await KafkaBroker.start();
    project.provide('kafkaBrokers', broker.brokers);
    if (process.env.WEIR_TEST_VERBOSE) {
      console.log(`[global-setup] Kafka at ${broker.brokers} (${broker.dir}) in ${Date.now() - started} ms`);
    }
  }
  return async () => {
    await broker?.destroy();
    broker = undefined;
  };
}
