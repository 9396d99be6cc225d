// What dominates a gateway CPU profile (from `npm run bench -- --only ingest --profile`):
// self time by function and by owner (a node_modules package, Weir's own src, or Node).
//
//   node --import tsx bench/prof-top.ts bench/results/profiles/CPU.*.cpuprofile [--top 25] [--long-ms 15]
// --long-ms: also the event loop's long tasks (busy stretches with no idle sample),
// billed to the Weir/package functions they ran through — what delays the next packet.
// --skip-s: leave out the profile's first seconds (start-up) from the long-task view.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'long-ms': { type: 'string', default: '15' }, 'skip-s': { type: 'string', default: '0' } } });
const file = positionals[0];
if (!file) throw new Error('usage: prof-top.ts FILE.cpuprofile [--top N]');
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Who owns a frame: "kafkajs", "weir:journal", "node:internal", "(garbage collector)", … */
function owner(n: Node): string {
  const { url, functionName } = n.callFrame;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const w = /\/dist\/([^/]+)\//.exec(url);
  if (w) return `weir:${w[1]}`;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  return url ? url : functionName || '(native)';
}

const selfFn = new Map<string, number>(), selfOwner = new Map<string, number>();
let total = 0;
p.samples.forEach((id, i) => {
  const dt = p.timeDeltas[i] ?? 0;
  const n = byId.get(id)!;
  if (n.callFrame.functionName === '(idle)') return;
  total += dt;
  const { functionName, url, lineNumber } = n.callFrame;
  const fn = `${functionName || '(anonymous)'} ${url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
  selfFn.set(fn, (selfFn.get(fn) ?? 0) + dt);
  // Native frames (a SQLite call, a syscall) and Node's own JS (Buffer, streams, zlib)
  // are billed to the nearest package or Weir module above them: who asked for the work.
  let o = n;
  const special = (x: Node) => x.callFrame.functionName.startsWith('(');
  while (parent.has(o.id) && !special(o) && (!o.callFrame.url || o.callFrame.url.startsWith('node:'))) o = byId.get(parent.get(o.id)!)!;
  const key = owner(o);
  selfOwner.set(key, (selfOwner.get(key) ?? 0) + dt);
});

const show = (title: string, m: Map<string, number>, top: number) => {
  console.log(`\n${title} (busy ${(total / 1e6).toFixed(2)} s)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
};
show('self time by owner (Node built-ins and native code billed to their caller)', selfOwner, 20);
show('self time by function', selfFn, Number(values.top));

// Long tasks: stretches of consecutive non-idle samples longer than --long-ms. Each
// sample's time goes to every distinct module function on its stack (inclusive), so
// "commitGroup 40 %" means 40 % of long-task time was spent inside commitGroup.
const longMs = Number(values['long-ms']);
const incl = new Map<string, number>();
let taskStart = -1, taskUs = 0, longUs = 0, longCount = 0, maxUs = 0;
const taskSamples: number[] = [];
const closeTask = () => {
  if (taskUs / 1000 >= longMs) {
    longCount++; longUs += taskUs; maxUs = Math.max(maxUs, taskUs);
    for (const i of taskSamples) {
      const seen = new Set<string>();
      for (let n: Node | undefined = byId.get(p.samples[i]!); n; n = parent.has(n.id) ? byId.get(parent.get(n.id)!) : undefined) {
        const { functionName, url } = n.callFrame;
        if (!url || url.startsWith('node:')) continue;
        const k = `${functionName || '(anonymous)'} ${url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/')}`;
        if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + (p.timeDeltas[i] ?? 0)); }
      }
    }
  }
  taskStart = -1; taskUs = 0; taskSamples.length = 0;
};
const skipUs = Number(values['skip-s']) * 1e6;
let clock = 0;
p.samples.forEach((id, i) => {
  const name = byId.get(id)!.callFrame.functionName;
  clock += p.timeDeltas[i] ?? 0;
  if (clock < skipUs) return;
  if (name === '(idle)') return closeTask();
  if (taskStart < 0) taskStart = i;
  taskUs += p.timeDeltas[i] ?? 0;
  taskSamples.push(i);
});
closeTask();
console.log(`\nlong tasks ≥ ${longMs} ms: ${longCount}, ${(longUs / 1e6).toFixed(2)} s in all, longest ${(maxUs / 1000).toFixed(0)} ms; inclusive share of that time:`);
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`${((100 * v) / longUs).toFixed(1).padStart(5)} %  ${k}`);
