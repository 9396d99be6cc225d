import { createRequire } from 'node:module';

type Logger = ((...args: unknown[]) => void) & { namespace: string; enabled: boolean; extend: (sub: string, delimiter?: string) => Logger };
type Factory = ((namespace: string) => Logger) & { enabled(namespace: string): boolean; default?: Factory; debug?: Factory };

/**
 * Makes the `debug` package's disabled loggers free.
 *
 * mqtt-packet (aedes's parser and writer), coap and @platformatic/kafka log through
 * `debug`. A logger it returns takes its arguments as a rest parameter and only then
 * checks whether it is enabled, so every call allocates an array even with DEBUG
 * unset; mqtt-packet makes about ten such calls per PUBLISH and PUBACK. A sampling heap
 * profile of the gateway thread at full ingest billed a third of everything it
 * allocated to them (with inlining off, which bills each allocation to the function
 * that makes it). This replaces debug's factory in Node's CommonJS module cache, before
 * those packages load: namespaces that DEBUG enables get debug's own logger, as
 * before; the rest a no-op.
 *
 * Call before the first import of a package that uses `debug` (bin/weir.js imports the
 * gateway only afterwards; the forwarder thread calls it before loading its Kafka
 * client). What changes for an operator: `DEBUG=…` works as always, but enabling a
 * namespace later at run time (debug.enable()) does not reach loggers made before.
 * Without `debug` installed, or called twice, it does nothing.
 */
export function quietDisabledDebug(): void {
  const require = createRequire(import.meta.url);
  let id: string;
  try {
    id = require.resolve('debug');
  } catch {
    return;
  }
  const real = require('debug') as Factory;
  const cached = require.cache[id];
  if (!cached || (real as { quiet?: boolean }).quiet) return;
  const quiet = ((namespace: string): Logger => (real.enabled(namespace) ? real(namespace) : disabled(namespace))) as Factory;
  function disabled(namespace: string): Logger {
    return Object.assign(() => undefined, {
      namespace,
      enabled: false,
      extend: (sub: string, delimiter = ':') => quiet(namespace + delimiter + sub),
    });
  }
  Object.assign(quiet, real, { quiet: true });
  quiet.default = quiet;
  quiet.debug = quiet;
  cached.exports = quiet;
}
