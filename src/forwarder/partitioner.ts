/**
 * Kafka's murmur2 key hash (org.apache.kafka.common.utils.Utils.murmur2, the Java
 * client's default partitioner since 0.8.2), in 32-bit integer arithmetic.
 *
 * Why our own: @platformatic/kafka's murmur2 computes in BigInt, allocating a dozen
 * BigInts per key; on the forwarder thread that was ~7 % of all it allocated per
 * record (a sampling heap profile at full ingest). Math.imul gives the Java int
 * multiplication's low 32 bits exactly, so the hash is bit-for-bit the same
 * (test/unit/forwarder/partitioner.test.ts checks it against the client's function
 * and Kafka's own test vectors).
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const body = length & ~3;
  for (let i = 0; i < body; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1–3 bytes, as Java's switch with fall-through.
  switch (length & 3) {
    case 3: h ^= data[body + 2]! << 16; // falls through
    case 2: h ^= data[body + 1]! << 8; // falls through
    case 1:
      h ^= data[body]!;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition number before the client takes it modulo the topic's partition count:
 * Apache Kafka's Java producer's choice for a keyed record,
 * `Utils.toPositive(Utils.murmur2(key)) % partitions` (BuiltInPartitioner.partitionForKey),
 * where toPositive is `hash & 0x7fffffff` — the same as KafkaJS's default partitioner.
 * @platformatic/kafka's own default takes `hash >>> 0` instead, which for the half of the
 * keys with a negative hash picks another partition whenever the count is not a power
 * of two. Kafka Streams and ksqlDB joins need a device's records on the partition a Java
 * producer would use for the same key (co-partitioning), and switching `kafka.client`
 * must not move a device to another partition (its order would break across the
 * switch): test/e2e/mqtt-to-kafka.test.ts compares both clients with the Java
 * producer's choice. Keyless records (none are sent: every record has its device or
 * gateway as key) go to partition 0.
 */
export function keyPartition(_message: unknown, key: Buffer | undefined): number {
  return key ? murmur2(key) & 0x7fffffff : 0;
}
