// The load generator: C MQTT 3.1.1 clients on raw TCP, each keeping up to W QoS 1
// PUBLISHes in flight, flat out or paced to a total rate. It runs as its own process
// (bench/load.ts spawns it) so its CPU is never billed to the broker under test.
//
//   node --import tsx bench/mqtt-load.ts --port 1883 [--clients 100] [--window 32]
//        [--count N | --duration S] [--rate R] [--prefix p] [--topic iot-data-input]
//   No --count/--duration: runs until SIGTERM. --rate 0 (default): as fast as acks allow.
//   --skip-s S: PUBACK latencies of readings sent in the first S seconds are not counted (warm-up).
//
// stdout: a JSON line {"t":"connected"}, then {"t":"tick",...} every second, then
// {"t":"result",...} once. CONNECT is built by mqtt-packet; the hot PUBLISH/PUBACK
// frames are hand-encoded (a few bytes each) because every µs here is taken from the
// 2 cores the peers share — the first frame is checked against mqtt-packet's parser.
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' },
    clients: { type: 'string', default: '100' }, window: { type: 'string', default: '32' },
    count: { type: 'string' }, duration: { type: 'string' }, rate: { type: 'string', default: '0' },
    prefix: { type: 'string', default: `b${process.pid}` }, topic: { type: 'string', default: 'iot-data-input' },
    'skip-s': { type: 'string', default: '0' }, devices: { type: 'string', default: '0' }, 'period-ms': { type: 'string', default: '10000' },
  },
});
const CLIENTS = Number(a.clients), WINDOW = Math.min(Number(a.window), 65_000), RATE = Number(a.rate);
const COUNT = a.count ? Number(a.count) : Infinity, SKIP_MS = Number(a['skip-s']) * 1000;
// --devices D: each client speaks for D devices, with three metrics each and simulated
// event times (a device's k-th reading at T0 + k × --period-ms): the analytics benchmark's shape.
// T0 sits 30 s past a 5-minute boundary, so every run of a given size closes the same
// windows (with a random phase, 1,200,000 readings closed two or three 1-minute windows per series).
const DEVICES = Number(a.devices), PERIOD = Number(a['period-ms']), T0 = Math.floor((Date.now() - 6 * 3_600_000) / 300_000) * 300_000 + 30_000;
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

// PUBACK latency histogram: 0.1 ms buckets up to 10 s, constant memory however long the run.
const hist = new Uint32Array(100_001);
let maxLatMs = 0, recorded = 0;
function pct(p: number, total = recorded): number {
  const want = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) if ((seen += hist[i]!) >= want && want > 0) return i / 10;
  return NaN;
}

const topic = Buffer.from(a.topic!);
/** PUBLISH, QoS 1 (fixed header 0x32), remaining length as MQTT's varint. */
function publishFrame(id: number, payload: Buffer): Buffer {
  let rem = 2 + topic.length + 2 + payload.length;
  const lenBytes = rem < 128 ? 1 : rem < 16384 ? 2 : 3;
  const b = Buffer.allocUnsafe(1 + lenBytes + rem);
  let o = 0;
  b[o++] = 0x32;
  do { let d = rem % 128; rem = Math.floor(rem / 128); if (rem > 0) d |= 0x80; b[o++] = d; } while (rem > 0);
  o = b.writeUInt16BE(topic.length, o);
  o += topic.copy(b, o);
  o = b.writeUInt16BE(id, o);
  payload.copy(b, o);
  return b;
}

class Client {
  sock!: Socket;
  nextId = 1;
  inflight = new Map<number, number>(); // message id → send time (performance.now())
  sent = 0;
  quota: number;
  seq = 0;
  private rest: Buffer | null = null;
  private queue: Buffer[] = [];
  constructor(readonly idx: number, quota: number) { this.quota = quota; }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = (this.sock = connect({ host: a.host!, port: Number(a.port), noDelay: true }));
      sock.once('error', reject);
      sock.once('connect', () => sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4,
        clean: true, clientId: `${a.prefix}-${this.idx}`, keepalive: 600 })));
      this.onConnack = () => { sock.off('error', reject); sock.on('error', () => undefined); resolve(); };
      sock.on('data', (d) => this.onData(d));
      // A broker that drops a client mid-run (e.g. journal refused a write) fails the run: report and stop.
      sock.on('close', () => { if (!stopping) { disconnects++; stop(); } });
    });
  }
  onConnack: () => void = () => undefined;

  /** Splits the stream into MQTT packets; only CONNACK and PUBACK are expected. */
  private onData(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let o = 0;
    for (;;) {
      if (buf.length - o < 2) break;
      let len = 0, mul = 1, i = o + 1, b: number;
      do { if (i >= buf.length) { b = -1; break; } b = buf[i++]!; len += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
      if (b === -1 || i + len > buf.length) break;
      const type = buf[o]! >> 4;
      if (type === 4) this.onPuback(buf.readUInt16BE(i));
      else if (type === 2) { if (buf[i + 1] !== 0) throw new Error(`CONNACK refused: ${buf[i + 1]}`); this.onConnack(); }
      o = i + len;
    }
    this.rest = o < buf.length ? buf.subarray(o) : null;
    if (RATE === 0) this.fill();
    this.flush();
  }

  private onPuback(id: number): void {
    const t = this.inflight.get(id);
    if (t === undefined) return;
    this.inflight.delete(id);
    const ms = performance.now() - t;
    if (t >= startPerf + SKIP_MS) {
      hist[Math.min(hist.length - 1, Math.round(ms * 10))]!++;
      recorded++;
      if (ms > maxLatMs) maxLatMs = ms;
    }
    acked++;
    lastAckPerf = performance.now();
    if (acked >= target) finish();
  }

  /** Queues one unique reading: occurred_at is the send time, usage varies per client sequence. */
  publish(): void {
    let id = this.nextId;
    while (this.inflight.has(id)) id = id === 65535 ? 1 : id + 1;
    this.nextId = id === 65535 ? 1 : id + 1;
    const n = this.seq++;
    const payload = Buffer.from(DEVICES > 0
      ? `{"hostname":"h-${this.idx}-${n % DEVICES}","cpu":"cpu0","usage":${(n % 100_000) / 1000},"temp":${40 + (n % 997) / 100},"freq":${1200 + (n % 1400)},"occurred_at":${T0 + Math.floor(n / DEVICES) * PERIOD}}`
      : `{"hostname":"h-${this.idx}","cpu":"cpu0","usage":${(n % 100_000) / 1000},"occurred_at":${Date.now()}}`);
    const frame = publishFrame(id, payload);
    if (!checked) selfCheck(frame, id, payload);
    this.queue.push(frame);
    this.inflight.set(id, performance.now());
    this.sent++; sent++; payloadBytes += payload.length;
  }

  canSend(): boolean { return !stopping && this.inflight.size < WINDOW && this.sent < this.quota; }
  fill(): void { while (this.canSend()) this.publish(); }
  /** One write per client per turn: syscalls, not bytes, are the cost at these sizes. */
  flush(): void {
    if (this.queue.length === 0) return;
    this.sock.write(this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue));
    this.queue = [];
  }
}

let checked = false;
function selfCheck(frame: Buffer, id: number, payload: Buffer): void {
  checked = true;
  const p = mqttPacket.parser({ protocolVersion: 4 });
  let ok = false;
  p.on('packet', (pk) => { ok = pk.cmd === 'publish' && pk.qos === 1 && pk.messageId === id && pk.topic === a.topic && Buffer.compare(pk.payload as Buffer, payload) === 0; });
  p.parse(frame);
  if (!ok) throw new Error('hand-built PUBLISH frame does not parse as expected');
}

let sent = 0, acked = 0, payloadBytes = 0, disconnects = 0, stopping = false, finished = false;
let target = COUNT, startWall = 0, startPerf = 0, lastAckPerf = 0;
const clients: Client[] = [];
let cpuAtConnect: NodeJS.CpuUsage | undefined;

/** Reports once: elapsed runs from the first PUBLISH to the last PUBACK counted. */
function finish(): void {
  if (finished) return;
  finished = stopping = true;
  const elapsed = ((acked > 0 ? lastAckPerf : performance.now()) - startPerf) / 1000;
  const cpu = process.cpuUsage(cpuAtConnect);
  out({ t: 'result', clients: CLIENTS, window: WINDOW, rate: RATE, sent, acked, startedAt: startWall, elapsedS: elapsed,
    acksPerSec: acked / elapsed, payloadBytes, disconnects, cpuS: (cpu.user + cpu.system) / 1e6,
    pubackMs: { p50: pct(0.5), p99: pct(0.99), max: Math.round(maxLatMs * 10) / 10, counted: recorded } });
  for (const c of clients) c.sock.destroy();
  setTimeout(() => process.exit(0), 50);
}

/** Stop sending, give outstanding PUBACKs up to 5 s, then report. */
function stop(): void {
  if (stopping) return;
  stopping = true;
  target = sent;
  if (acked >= target) return finish();
  setTimeout(() => { target = acked; finish(); }, 5000).unref();
}

async function main(): Promise<void> {
  const per = Math.floor(COUNT / CLIENTS), extra = COUNT - per * CLIENTS;
  for (let i = 0; i < CLIENTS; i++) clients.push(new Client(i, Number.isFinite(COUNT) ? per + (i < extra ? 1 : 0) : Infinity));
  // Connect in groups of 100: a 1,000-client SYN burst can overflow a listen backlog.
  for (let i = 0; i < CLIENTS; i += 100) await Promise.all(clients.slice(i, i + 100).map((c) => c.open()));
  out({ t: 'connected', clients: CLIENTS });
  cpuAtConnect = process.cpuUsage(); // cpuS in the result is the load's, not tsx's start-up
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (a.duration) setTimeout(stop, Number(a.duration) * 1000);
  startWall = Date.now(); startPerf = performance.now();
  let lastTickSent = 0, lastTickAcked = 0;
  setInterval(() => {
    out({ t: 'tick', at: Date.now(), sent, acked, ackRate: acked - lastTickAcked, sendRate: sent - lastTickSent, inflight: sent - acked });
    lastTickSent = sent; lastTickAcked = acked;
  }, 1000);
  if (RATE === 0) {
    for (const c of clients) { c.fill(); c.flush(); }
    return;
  }
  // Paced: every ~1 ms, hand out what the schedule owes round-robin to clients with window room.
  // What cannot be sent (all windows full) is owed, not dropped, and shows as sendRate < rate.
  let rr = 0;
  const pace = () => {
    if (stopping) return;
    let owed = Math.floor((RATE * (performance.now() - startPerf)) / 1000) - sent;
    for (let tried = 0; owed > 0 && tried < CLIENTS; ) {
      const c = clients[rr]!;
      rr = (rr + 1) % CLIENTS;
      if (c.canSend()) { c.publish(); owed--; tried = 0; } else tried++;
    }
    for (const c of clients) c.flush();
    if (sent >= COUNT) return;
    setTimeout(pace, 1);
  };
  pace();
}

main().catch((err) => { process.stderr.write(`mqtt-load: ${(err as Error).stack}\n`); process.exit(1); });
