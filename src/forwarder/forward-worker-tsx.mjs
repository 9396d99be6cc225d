// The forwarder thread's entry when the gateway runs from its TypeScript sources
// (the test suite, tsx): registers tsx in this thread first, so the thread runs the
// very same sources. From dist/ the thread starts at forward-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./forward-worker.ts', import.meta.url).href);
