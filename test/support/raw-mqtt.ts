// A raw MQTT 3.1.1 client (and the broker it talks to) for tests that must do what real clients won't: drop a
// connection between PUBREC and PUBREL, send before CONNACK, announce oversize packets.
// The caller writes packets (mqtt-packet's generate) to `socket`; every packet the
// broker sends back is parsed into `packets`, in order. Not a test file.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { parser as mqttParser, type Packet } from 'mqtt-packet';
import type { Context } from '../../src/core/context.js';
import { Ingest } from '../../src/ingest/ingest.js';
import { SqliteJournal } from '../../src/journal/sqlite-journal.js';
import { BUNDLED_PROFILES_DIR, loadProfilesOrThrow } from '../../src/profiles/registry.js';
import { MqttBrokerSource } from '../../src/sources/mqtt-broker.js';

export interface RawMqttClient {
  socket: Socket;
  packets: Packet[];
}

export async function rawMqttClient(port: number): Promise<RawMqttClient> {
  const socket = connect(port, '127.0.0.1');
  const packets: Packet[] = [];
  const parser = mqttParser();
  parser.on('packet', (p) => packets.push(p));
  socket.on('data', (b) => parser.parse(b));
  socket.on('error', () => {}); // reset by the broker: the test looks at what arrived
  await once(socket, 'connect');
  return { socket, packets };
}

/**
 * The embedded broker over a real Ingest and SqliteJournal in a temporary data dir,
 * with the bundled profiles (and `profileDirs`); `close` stops both.
 */
export async function brokerHarness(ctx: Context, profileDirs: string[] = []) {
  const journal = new SqliteJournal(ctx);
  journal.open();
  const ingest = new Ingest(ctx, journal, loadProfilesOrThrow([BUNDLED_PROFILES_DIR, ...profileDirs]));
  ingest.open();
  const source = new MqttBrokerSource(ctx, ingest);
  await source.start();
  const close = async (): Promise<void> => {
    await source.stop();
    await journal.close();
  };
  return { journal, ingest, source, close };
}
