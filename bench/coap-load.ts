// The CoAP load generator: C client endpoints (one UDP socket each, so each has its own
// 16-bit Message ID space, RFC 7252 §4.4), each keeping up to W Confirmable requests
// outstanding (1 by default: NSTART = 1, §4.7), flat out or paced to a total rate.
// It runs as its own process (bench/coap.ts spawns it) so its CPU is never billed to
// the server under test.
//
//   node --import tsx bench/coap-load.ts --port 5683 [--clients 256] [--window 1]
//        [--count N | --duration S] [--rate R] [--skip-s S] [--path iot-data-input] [--method POST|PUT]
//   No --count/--duration: runs until SIGTERM. --rate 0 (default): as fast as responses allow.
//   --skip-s S: latencies of requests sent in the first S seconds are not counted (warm-up), and the
//   steady rate (2.xx responses/s) runs from S seconds after the start until sending stops.
//
// stdout: a JSON line {"t":"ready"}, then {"t":"tick",...} every second, then
// {"t":"result",...} once.
//
// Each request: CON POST (or PUT) with a 4-byte token, Uri-Path, Content-Format 50
// (application/json) and seed 001's cpu-monitor reading
// {"hostname":"h-<client>","cpu":"cpu0","usage":<varies>,"occurred_at":<send time, epoch ms>},
// every one unique. Hand-encoded (a few bytes of header; every µs here is taken from
// the 2 cores the peers share); the first is checked against coap-packet's parser.
// Latency = first transmission → the response (piggybacked in the ACK, or separate after
// an empty ACK, §5.2). A window slot is held until the response arrives (not just the
// empty ACK: a device posting readings wants to know they were taken).
// Reliability as §4.2/§4.8: no ACK within ACK_TIMEOUT × [1, 1.5) → retransmit with the same
// Message ID and token, the timeout doubling, at most MAX_RETRANSMIT (4) times; then the
// request is given up (counted as a timeout). A separate response that is CON is
// acknowledged with an empty ACK.
// Message IDs are sequential per endpoint from a random start; an endpoint never reuses
// one within EXCHANGE_LIFETIME (247 s, §4.8.2) — it stalls instead (counted as
// midStalls). So one endpoint sustains at most 65,536 / 247 s ≈ 265 requests/s; the
// generator as a whole clients × 265/s (bench/coap.ts sizes --clients for that).
import { createSocket, type Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { parse as parseCoap } from 'coap-packet';

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' },
    clients: { type: 'string', default: '256' }, window: { type: 'string', default: '1' },
    count: { type: 'string' }, duration: { type: 'string' }, rate: { type: 'string', default: '0' },
    path: { type: 'string', default: 'iot-data-input' }, method: { type: 'string', default: 'POST' },
    'skip-s': { type: 'string', default: '0' },
  },
});
const CLIENTS = Number(a.clients), WINDOW = Math.max(1, Number(a.window)), RATE = Number(a.rate);
const COUNT = a.count ? Number(a.count) : Infinity, SKIP_MS = Number(a['skip-s']) * 1000;
const METHOD = a.method!.toUpperCase() === 'PUT' ? 0x03 : 0x02;
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

// RFC 7252 §4.8 / §4.8.2.
const ACK_TIMEOUT_MS = 2000, ACK_RANDOM_FACTOR = 1.5, MAX_RETRANSMIT = 4, EXCHANGE_LIFETIME_MS = 247_000;
/** A separate response that has not come this long after its empty ACK is given up. */
const SEPARATE_WAIT_MS = 60_000;

// Latency histogram: 0.1 ms buckets up to 60 s (a request retransmitted 4 times takes up to 45 s).
const hist = new Uint32Array(600_001);
let maxLatMs = 0, recorded = 0;
function pct(p: number): number {
  const want = Math.ceil(recorded * p);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) if ((seen += hist[i]!) >= want && want > 0) return i / 10;
  return NaN;
}

/** Options after the token: Uri-Path segments (11), Content-Format 50 (12). Deltas and lengths < 269. */
function encodeOptions(): Buffer {
  const parts: number[] = [];
  let last = 0;
  const put = (num: number, value: Buffer) => {
    const delta = num - last, len = value.length;
    last = num;
    const nib = (v: number) => (v < 13 ? v : 13);
    parts.push((nib(delta) << 4) | nib(len));
    if (delta >= 13) parts.push(delta - 13);
    if (len >= 13) parts.push(len - 13);
    parts.push(...value);
  };
  for (const seg of a.path!.split('/').filter(Boolean)) put(11, Buffer.from(seg));
  put(12, Buffer.from([50]));
  return Buffer.from(parts);
}
const OPTIONS = encodeOptions();
const HEAD = 4 + 4 + OPTIONS.length + 1; // header, token, options, payload marker

interface Pending {
  mid: number;
  token: number;
  buf: Buffer;
  /** performance.now() of the first transmission. */
  sentAt: number;
  /** When to retransmit next (performance.now() ms); Infinity once an empty ACK came. */
  due: number;
  timeout: number;
  retries: number;
  /** performance.now() of the empty ACK: a separate response is coming (§5.2.2). */
  emptyAckAt: number;
}

let sent = 0, ok = 0, responses = 0, payloadBytes = 0, retransmissions = 0, retransmittedRequests = 0;
let timeouts = 0, separateLost = 0, emptyAcks = 0, separate = 0, separateCon = 0, resets = 0, unmatched = 0;
let duplicateResponses = 0, midStalls = 0, sendErrors = 0, tokenMismatch = 0;
const codes: Record<string, number> = {};
let stopping = false, finished = false;
/** The steady window: from --skip-s after the start until sending stops (duration over, or the last request sent). */
let steadyFrom = 0, steadyFromOk = 0, steadyTo = 0, steadyToOk = 0;
function steadyEnd(): void {
  if (steadyTo > 0) return;
  steadyTo = performance.now();
  steadyToOk = ok;
}
let target = COUNT, startWall = 0, startPerf = 0, lastRespPerf = 0;
const clients: Client[] = [];
let cpuAtReady: NodeJS.CpuUsage | undefined;
let checked = false;

const codeStr = (c: number) => `${c >> 5}.${String(c & 31).padStart(2, '0')}`;

class Client {
  sock!: Socket;
  private nextMid: number;
  private midsIssued = 0;
  /** Last use of each block of 1,024 Message IDs (64 blocks = the whole space), for the 247 s rule. */
  private readonly midBlockLast = new Float64Array(64);
  private nextToken = 1;
  readonly pending: Pending[] = [];
  /** Tokens of requests answered lately (a CON separate response may come again if our ACK was lost). */
  private readonly recentTokens: number[] = [];
  seq = 0;
  stalledUntil = 0;
  private readonly host: string;
  constructor(readonly idx: number) {
    this.nextMid = Math.floor(Math.random() * 65536);
    this.host = `h-${idx}`;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = (this.sock = createSocket('udp4'));
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => {
        sock.connect(Number(a.port), a.host!, () => {
          sock.off('error', reject);
          // e.g. ECONNREFUSED (ICMP port unreachable) on a connected socket: counted, retransmission handles it.
          sock.on('error', () => { sendErrors++; });
          sock.on('message', (m) => this.onMessage(m));
          resolve();
        });
      });
    });
  }

  private onMessage(m: Buffer): void {
    if (m.length < 4 || m[0]! >> 6 !== 1) return;
    const type = (m[0]! >> 4) & 3, tkl = m[0]! & 15, code = m[1]!, mid = m.readUInt16BE(2);
    const token = tkl === 4 && m.length >= 8 ? m.readUInt32BE(4) : -1;
    if (type === 2 || type === 3) { // ACK or RST: matched by Message ID
      const i = this.pending.findIndex((p) => p.mid === mid);
      if (i < 0) { unmatched++; return; }
      const p = this.pending[i]!;
      if (type === 3) { resets++; this.done(i, -1); return; }
      if (code === 0) { // empty ACK: stop retransmitting, wait for the separate response
        if (p.emptyAckAt === 0) { emptyAcks++; p.emptyAckAt = performance.now(); p.due = Infinity; }
        return;
      }
      if (token !== p.token) tokenMismatch++;
      this.done(i, code);
      return;
    }
    // CON or NON: a separate response, matched by token (§5.3.2).
    if (code >> 5 < 2) return; // a request or an empty message sent to a client: ignored
    if (type === 0) this.send(Buffer.from([0x60, 0x00, mid >> 8, mid & 0xff])); // empty ACK (§4.2)
    const i = this.pending.findIndex((p) => p.token === token);
    if (i < 0) { if (this.recentTokens.includes(token)) duplicateResponses++; else unmatched++; return; }
    separate++;
    if (type === 0) separateCon++;
    this.done(i, code);
  }

  /** A request's exchange ended: code < 0 for RST or timeout. */
  private done(i: number, code: number): void {
    const p = this.pending[i]!;
    this.pending.splice(i, 1);
    this.recentTokens.push(p.token);
    if (this.recentTokens.length > 8) this.recentTokens.shift();
    const now = performance.now();
    if (code >= 0) {
      responses++;
      const c = codeStr(code);
      codes[c] = (codes[c] ?? 0) + 1;
      if (code >> 5 === 2) {
        ok++;
        if (p.sentAt >= startPerf + SKIP_MS) {
          const ms = now - p.sentAt;
          hist[Math.min(hist.length - 1, Math.round(ms * 10))]!++;
          recorded++;
          if (ms > maxLatMs) maxLatMs = ms;
        }
      }
    }
    lastRespPerf = now;
    if (responses + timeouts + separateLost + resets >= target) return finish();
    if (RATE === 0) this.fill();
  }

  canSend(now: number): boolean {
    // --count is for the whole run, not per client: a client waiting on a retransmission must not hold back the end.
    if (stopping || this.pending.length >= WINDOW || sent >= COUNT) return false;
    if (this.midsIssued % 1024 !== 0) return true;
    if (now < this.stalledUntil) return false;
    // Entering a block of 1,024 Message IDs: were they used less than EXCHANGE_LIFETIME ago?
    const last = this.midBlockLast[(this.midsIssued >> 10) & 63]!;
    if (last > 0 && now - last < EXCHANGE_LIFETIME_MS) {
      midStalls++;
      this.stalledUntil = last + EXCHANGE_LIFETIME_MS;
      return false;
    }
    return true;
  }

  /** Sends one unique reading as a new CON request. */
  request(now: number): void {
    const mid = this.nextMid;
    this.nextMid = (mid + 1) & 0xffff;
    this.midBlockLast[(this.midsIssued >> 10) & 63] = now;
    this.midsIssued++;
    const token = this.nextToken;
    this.nextToken = (token + 1) >>> 0 || 1;
    const n = this.seq++;
    const body = `{"hostname":"${this.host}","cpu":"cpu0","usage":${(n % 100_000) / 1000},"occurred_at":${Date.now()}}`;
    const buf = Buffer.allocUnsafe(HEAD + body.length); // the body is ASCII
    buf[0] = 0x44; // version 1, CON, token length 4
    buf[1] = METHOD;
    buf.writeUInt16BE(mid, 2);
    buf.writeUInt32BE(token, 4);
    OPTIONS.copy(buf, 8);
    buf[HEAD - 1] = 0xff;
    buf.write(body, HEAD, 'latin1');
    if (!checked) selfCheck(buf, mid, body);
    const timeout = ACK_TIMEOUT_MS * (1 + (ACK_RANDOM_FACTOR - 1) * Math.random());
    this.pending.push({ mid, token, buf, sentAt: now, due: now + timeout, timeout, retries: 0, emptyAckAt: 0 });
    sent++; payloadBytes += body.length;
    this.send(buf);
    if (sent >= COUNT) steadyEnd();
  }

  send(buf: Buffer): void {
    this.sock.send(buf);
  }

  fill(): void {
    const now = performance.now();
    while (this.canSend(now)) this.request(now);
  }

  /** Retransmissions and give-ups (§4.2): called every few ms. */
  sweep(now: number): void {
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i]!;
      if (p.emptyAckAt > 0) {
        if (now - p.emptyAckAt > SEPARATE_WAIT_MS) { separateLost++; this.pending.splice(i--, 1); lastRespPerf = now; this.afterGiveUp(); }
        continue;
      }
      if (now < p.due) continue;
      if (p.retries >= MAX_RETRANSMIT) { timeouts++; this.pending.splice(i--, 1); lastRespPerf = now; this.afterGiveUp(); continue; }
      if (p.retries === 0) retransmittedRequests++;
      p.retries++;
      retransmissions++;
      p.timeout *= 2;
      p.due = now + p.timeout;
      this.send(p.buf);
    }
    // Flat out, a client stalled by the Message ID rule resumes once its IDs are free again.
    if (RATE === 0 && this.stalledUntil > 0 && now >= this.stalledUntil) { this.stalledUntil = 0; this.fill(); }
  }

  private afterGiveUp(): void {
    if (responses + timeouts + separateLost + resets >= target) return finish();
    if (RATE === 0) this.fill();
  }
}

function selfCheck(buf: Buffer, mid: number, body: string): void {
  checked = true;
  const p = parseCoap(buf);
  const path = p.options.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString()).join('/');
  const cf = p.options.find((o) => o.name === 'Content-Format')?.value;
  if (!(p.confirmable && p.messageId === mid && p.token.length === 4 && p.code === `0.0${METHOD}` && path === a.path!.split('/').filter(Boolean).join('/')
    && cf?.length === 1 && cf[0] === 50 && p.payload.toString() === body)) {
    throw new Error(`hand-built CoAP request does not parse as expected: ${JSON.stringify(p)}`);
  }
}

/** Reports once: elapsed runs from the first request to the last response (or give-up) counted. */
function finish(): void {
  if (finished) return;
  finished = stopping = true;
  const elapsed = ((lastRespPerf > 0 ? lastRespPerf : performance.now()) - startPerf) / 1000;
  const cpu = process.cpuUsage(cpuAtReady);
  const unanswered = clients.reduce((n, c) => n + c.pending.length, 0);
  steadyEnd();
  const steadyS = (steadyTo - steadyFrom) / 1000;
  const toWall = (t: number) => Math.round(startWall + (t - startPerf));
  out({ t: 'result', clients: CLIENTS, window: WINDOW, rate: RATE, sent, ok, responses, codes, startedAt: startWall, elapsedS: elapsed,
    okPerSec: ok / elapsed,
    // 2.xx responses received in the steady window, per second: the rate without ramp-up and the tail of retransmissions.
    steady: { from: toWall(steadyFrom), to: toWall(steadyTo), s: steadyS, ok: steadyToOk - steadyFromOk, okPerSec: (steadyToOk - steadyFromOk) / steadyS },
    payloadBytes, cpuS: (cpu.user + cpu.system) / 1e6,
    retransmissions, retransmittedRequests, timeouts, unanswered, emptyAcks, separate, separateCon, separateLost, resets,
    duplicateResponses, unmatched, tokenMismatch, midStalls, sendErrors,
    latencyMs: { p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), max: Math.round(maxLatMs * 10) / 10, counted: recorded } });
  for (const c of clients) c.sock.close();
  setTimeout(() => process.exit(0), 50);
}

/** Stop sending, give outstanding requests up to 6 s (a retransmission or two), then report; the rest count as unanswered. */
function stop(): void {
  if (stopping) return;
  steadyEnd();
  stopping = true;
  target = sent;
  if (responses + timeouts + separateLost + resets >= target) return finish();
  setTimeout(finish, 6_000).unref();
}

async function main(): Promise<void> {
  for (let i = 0; i < CLIENTS; i++) clients.push(new Client(i));
  for (let i = 0; i < CLIENTS; i += 100) await Promise.all(clients.slice(i, i + 100).map((c) => c.open()));
  out({ t: 'ready', clients: CLIENTS });
  cpuAtReady = process.cpuUsage(); // cpuS in the result is the load's, not tsx's start-up
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (a.duration) setTimeout(stop, Number(a.duration) * 1000);
  startWall = Date.now(); startPerf = performance.now();
  steadyFrom = startPerf;
  if (SKIP_MS > 0) setTimeout(() => { steadyFrom = performance.now(); steadyFromOk = ok; }, SKIP_MS);
  let lastTickSent = 0, lastTickOk = 0, lastTickRetx = 0;
  setInterval(() => {
    out({ t: 'tick', at: Date.now(), sent, ok, okRate: ok - lastTickOk, sendRate: sent - lastTickSent,
      retransmissions: retransmissions - lastTickRetx, inflight: clients.reduce((n, c) => n + c.pending.length, 0) });
    lastTickSent = sent; lastTickOk = ok; lastTickRetx = retransmissions;
  }, 1000);
  setInterval(() => {
    const now = performance.now();
    for (const c of clients) c.sweep(now);
  }, 20);
  if (RATE === 0) {
    for (const c of clients) c.fill();
    return;
  }
  // Paced: every ~1 ms, hand out what the schedule owes round-robin to clients with window room.
  // What cannot be sent (all windows full) is owed, not dropped, and shows as sendRate < rate.
  let rr = 0;
  const pace = () => {
    if (stopping) return;
    const now = performance.now();
    let owed = Math.floor((RATE * (now - startPerf)) / 1000) - sent;
    for (let tried = 0; owed > 0 && tried < CLIENTS; ) {
      const c = clients[rr]!;
      rr = (rr + 1) % CLIENTS;
      if (c.canSend(now)) { c.request(now); owed--; tried = 0; } else tried++;
    }
    if (sent >= COUNT) return;
    setTimeout(pace, 1);
  };
  pace();
}

main().catch((err) => { process.stderr.write(`coap-load: ${(err as Error).stack}\n`); process.exit(1); });
