// An in-process gateway for unit tests (not a test file): HTTP on a free port, MQTT and
// CoAP off, the forwarder in this thread with a Kafka that never answers — so every
// record stays in the journal, where the test reads it — on the clock the test passes.
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import type { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { KafkaProducerPort } from '../../src/forwarder/producer.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { tempDir, type Defer } from './support.js';

/** A Kafka that never answers: a mock, since no real broker can hang on cue. */
export const noKafka: KafkaProducerPort = {
  connect: () => new Promise(() => undefined),
  ensureTopics: () => Promise.resolve(),
  send: () => Promise.resolve(),
  disconnect: () => Promise.resolve(),
};

/** Starts the gateway (stopped after the test through `defer`); `config` is merged over the harness's own. */
export async function startGateway(clock: ManualClock, defer: Defer, config: ConfigInput = {}): Promise<Gateway> {
  const parsed = configSchema.parse({
    dataDir: tempDir(), mqtt: { enabled: false }, coap: { enabled: false }, http: { host: '127.0.0.1', port: 0 },
    ...config,
    gateway: { id: 'gw', statusIntervalSeconds: 0, stopTimeoutMs: 1, ...config.gateway },
    kafka: { ...config.kafka, workerThread: false },
  });
  const gw = await Gateway.start({ config: parsed, profiles: loadProfilesOrThrow([BUNDLED_PROFILES_DIR]), log: silentLogger, clock, producer: noKafka });
  defer(() => gw.stop());
  return gw;
}
