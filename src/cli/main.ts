import { describeError, isWeirError } from '../core/errors.js';

const USAGE = `weir — edge gateway: devices → durable journal → Kafka

Usage:
  weir run [-c FILE]                      run the gateway
  weir check [-c FILE] [--schema]         validate config and device profiles (exit 1 on any error)
  weir decode -p PROFILE [--topic T | --path P] PAYLOAD|@FILE|-
                                          decode one payload as the gateway would
  weir status [-c FILE] [--json]          backlog, oldest unsent record, disk use, uplink state
  weir simulate --profile P --devices N --rate R [--duration S] --mqtt URL|--coap URL|--http URL
                                          simulated devices (R readings/s per device; --help for options)

Config: -c FILE, else $WEIR_CONFIG, else ./weir.yaml if present, else built-in defaults.
Every key can be overridden as WEIR_<PATH>, e.g. WEIR_KAFKA_BROKERS=host:9092.`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).runCommand,
  check: async () => (await import('./check.js')).checkCommand,
  decode: async () => (await import('./decode.js')).decodeCommand,
  status: async () => (await import('./status.js')).statusCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
};

/** Entry point of the `weir` bin; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`weir: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (err) {
    if (isWeirError(err)) {
      console.error(`weir ${name}: ${describeError(err)}`);
      return err.code === 'WEIR_USAGE' ? 2 : 1;
    }
    throw err;
  }
}
