// Apache Kafka's own Java producer, as the reference for where a key's records go: its
// console producer (kafka-tools, on the broker's class path) with the client's default
// partitioner, read back with kcat.
import { consumeAll } from './kcat.js';
import { createTopics, kafkaClasspath } from './kafka-broker.js';
import { spawnJava } from './jvm.js';

/**
 * Creates `topic` with `partitions` partitions, sends one record per key through
 * org.apache.kafka.tools.ConsoleProducer (keys must not contain tabs or newlines), and
 * returns the partition each key's record landed on.
 */
export async function javaProducerPartitions(brokers: string, topic: string, partitions: number, keys: string[]): Promise<Map<string, number>> {
  await createTopics(brokers, [topic], partitions);
  const classpath = await kafkaClasspath();
  await new Promise<void>((resolve, reject) => {
    const child = spawnJava(['-Xmx256m', '-cp', classpath, 'org.apache.kafka.tools.ConsoleProducer',
      '--bootstrap-server', brokers, '--topic', topic,
      '--property', 'parse.key=true', '--property', 'key.separator=\t'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ConsoleProducer exited ${code}: ${stderr.slice(-2000)}`))));
    child.stdin!.end(keys.map((k) => `${k}\tx`).join('\n') + '\n');
  });
  const records = await consumeAll(brokers, topic, { count: keys.length, timeoutMs: 30_000 });
  return new Map(records.map((r) => [r.key!, r.partition]));
}
