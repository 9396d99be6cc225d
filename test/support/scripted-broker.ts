// A scripted MQTT site broker for the bridge's tests: it accepts connections and hands
// each to the test, which plays the broker's part packet by packet — what a real broker
// cannot be made to do on cue (lose a PUBREC with its connection, drop every connection
// right after its CONNACK). Not a test file.
import { createServer, type Server, type Socket } from 'node:net';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';

/** One connection: the packets the bridge sent on it, in order, and a way to answer. */
export interface ScriptedConn {
  socket: Socket;
  got: Packet[];
  send(p: Packet): void;
}

export interface ScriptedBroker {
  port: number;
  conns: ScriptedConn[];
  /** Called with each new connection, before any of its packets. */
  onConn?: (c: ScriptedConn) => void;
  close(): Promise<void>;
}

export async function scriptedBroker(version: 4 | 5): Promise<ScriptedBroker> {
  const conns: ScriptedConn[] = [];
  const server: Server = createServer((socket) => {
    const got: Packet[] = [];
    const conn: ScriptedConn = { socket, got, send: (p) => socket.write(generate(p, { protocolVersion: version })) };
    const parser = mqttParser({ protocolVersion: version });
    parser.on('packet', (p) => got.push(p));
    socket.on('data', (b) => parser.parse(b));
    socket.on('error', () => {});
    conns.push(conn);
    broker.onConn?.(conn);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const broker: ScriptedBroker = {
    port: (server.address() as { port: number }).port,
    conns,
    close: () => new Promise<void>((resolve) => {
      for (const c of conns) c.socket.destroy();
      server.close(() => resolve());
    }),
  };
  return broker;
}

export const hasPacket = (c: ScriptedConn, cmd: Packet['cmd']): boolean => c.got.some((p) => p.cmd === cmd);
