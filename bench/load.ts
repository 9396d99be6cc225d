// The bench's handle on one generator run (bench/mqtt-load.ts as a child process).
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopChild } from './peers.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface LoadOptions {
  port: number;
  clients?: number;
  window?: number;
  /** Total readings; absent: until duration or stop(). */
  count?: number;
  durationS?: number;
  /** Total readings per second; 0 or absent: as fast as PUBACKs come back. */
  rate?: number;
  /** PUBACK latencies of the first seconds (warm-up) are not counted. */
  skipS?: number;
  topic?: string;
  /** Devices per client, three metrics each, simulated event time (see mqtt-load.ts). */
  devicesPerClient?: number;
  /** With devicesPerClient: event time between a device's readings. */
  eventPeriodMs?: number;
}

export interface Tick { at: number; sent: number; acked: number; ackRate: number; sendRate: number; inflight: number }

export interface LoadResult {
  clients: number; window: number; rate: number; sent: number; acked: number;
  /** Epoch ms of the first PUBLISH. */
  startedAt: number;
  elapsedS: number; acksPerSec: number; payloadBytes: number; disconnects: number; cpuS: number;
  pubackMs: { p50: number; p99: number; max: number; counted: number };
}

export interface LoadRun {
  pid: number;
  ticks: Tick[];
  /** Resolves once every client has its CONNACK. */
  connected: Promise<void>;
  result: Promise<LoadResult>;
  /** Stop publishing; the result follows once outstanding PUBACKs are in (≤ 5 s). */
  stop(): Promise<LoadResult>;
}

export function startLoad(o: LoadOptions): LoadRun {
  const args = ['--port', String(o.port), '--clients', String(o.clients ?? 100), '--window', String(o.window ?? 32),
    '--rate', String(o.rate ?? 0)];
  if (o.count !== undefined) args.push('--count', String(Math.round(o.count)));
  if (o.durationS !== undefined) args.push('--duration', String(o.durationS));
  if (o.skipS !== undefined) args.push('--skip-s', String(o.skipS));
  if (o.topic !== undefined) args.push('--topic', o.topic);
  if (o.devicesPerClient !== undefined) args.push('--devices', String(o.devicesPerClient));
  if (o.eventPeriodMs !== undefined) args.push('--period-ms', String(o.eventPeriodMs));
  const child = spawnTracked(process.execPath, ['--import', 'tsx', join(HERE, 'mqtt-load.ts'), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const ticks: Tick[] = [];
  let onConnected!: () => void, onResult!: (r: LoadResult) => void, fail!: (e: Error) => void;
  const connected = new Promise<void>((res) => (onConnected = res));
  const result = new Promise<LoadResult>((res, rej) => { onResult = res; fail = rej; });
  let got: LoadResult | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { t: string } & Tick & LoadResult;
    if (m.t === 'connected') onConnected();
    else if (m.t === 'tick') ticks.push(m);
    else if (m.t === 'result') onResult((got = m));
  });
  child.once('exit', (code) => {
    if (!got) fail(new Error(`load generator exited (${code}) without a result:\n${stderr}`));
  });
  // A generator that dies before connecting must not leave `connected` hanging.
  result.catch(() => undefined);
  const connectedOrFail = Promise.race([connected, result.then(() => undefined)]);
  return {
    pid: child.pid!, ticks, connected: connectedOrFail, result,
    stop: async () => {
      child.kill('SIGTERM');
      const r = await result;
      await stopChild(child, 2000);
      return r;
    },
  };
}
