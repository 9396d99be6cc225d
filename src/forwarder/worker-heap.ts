import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

/**
 * The forwarder thread's semi-space, in MB (its young generation is three of them).
 *
 * Why the thread gets more than the gateway thread: the unit caps every isolate's
 * semi-space at 4 MB (`--max-semi-space-size=4`, for the memory targets), and the
 * Kafka client allocates ~5 KB per record while it encodes a batch that stays alive
 * until Kafka acknowledges it. With 4 MB, a scavenge came every few hundred records,
 * in the middle of a batch: the batch was copied, then promoted, and collected by a
 * full mark-compact every ~100 ms. bench/forward-drain.ts (the forwarder alone,
 * draining into a real broker): 18–26 CPU-s per 1M records with 4 MB, 15–18 with 8,
 * 13–14 with 16 (V8's default). 8 takes most of that for at most 12 MB more RSS.
 */
export const WORKER_SEMI_SPACE_MB = 8;

const FLAG = /^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/;

/**
 * The semi-space cap this process was started with (its V8 flag, from the command
 * line or NODE_OPTIONS), in MB; undefined when V8 sizes it.
 */
export function processSemiSpaceMb(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): number | undefined {
  const args = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgv];
  let found: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const m = FLAG.exec(args[i]!);
    if (!m) continue;
    const value = m[1] ?? args[i + 1];
    if (value !== undefined && /^\d+$/.test(value)) found = Number(value); // the last one wins, as in V8
  }
  return found;
}

/**
 * Starts a worker (`spawn` calls `new Worker`) whose isolate gets a semi-space of
 * `semiMb`, while this thread keeps its own.
 *
 * Worker's `resourceLimits.maxYoungGenerationSizeMb` is the supported way, but V8 lets
 * the process-wide flag override it (Heap::ConfigureHeap reads the flag last), so with
 * the unit's flag it does nothing. V8 reads the flag only when it creates an isolate,
 * and Node creates the worker's on the worker's own thread: so the flag is raised
 * before `spawn` and put back once the worker is online (its isolate exists) or failed.
 * Node documents changing V8 flags at run time as unsupported; should a later Node
 * ignore it, the worker simply gets the process's semi-space, as before (the
 * forwarder reports its young generation: weir_forwarder_thread_heap_bytes).
 * Without the flag, V8 sizes every isolate itself and this only passes the limit on.
 */
export function spawnWithSemiSpace(semiMb: number, spawn: (resourceLimits: { maxYoungGenerationSizeMb: number }) => Worker): Worker {
  const limits = { maxYoungGenerationSizeMb: 3 * semiMb };
  const own = processSemiSpaceMb();
  if (own === undefined || own >= semiMb) return spawn(limits);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    setFlagsFromString(`--max-semi-space-size=${own}`);
  };
  setFlagsFromString(`--max-semi-space-size=${semiMb}`);
  let worker: Worker;
  try {
    worker = spawn(limits);
  } catch (err) {
    restore();
    throw err;
  }
  worker.once('online', restore);
  worker.once('error', restore);
  worker.once('exit', restore);
  return worker;
}
