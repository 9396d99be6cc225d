import type { SerialConfig } from '../../config/serial-schema.js';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import type { Ingest } from '../../ingest/ingest.js';
import type { Source } from '../source.js';
import { loadSerialPort, type OpenPort } from './open-port.js';
import { PortReader } from './port-reader.js';

export interface SerialSourceDeps {
  /** Loads serialport; tests substitute a failing or fake one. Default: the lazy import. */
  loadSerialPort?: () => Promise<OpenPort>;
}

/**
 * Serial ports (serial.ports): each is read as a byte stream, framed (lines, NMEA 0183
 * sentences or length-prefixed binary) and every frame submitted to ingest as
 * `{ protocol: 'serial', topic: <port name>, client: <path> }`, in the order read.
 * Serial has no acknowledgement: a frame is submitted and forgotten, and a journal
 * refusal is counted in the port's errors.
 *
 * start() loads the native `serialport` package only when a port is configured. If it
 * cannot be loaded, the error says which package and how to install it, is logged and
 * shown in status(), and start() still resolves: the other sources keep running (but
 * /readyz reports serial as not listening). A port that cannot be opened, or is lost
 * later (device unplugged), is retried with backoff; start() does not wait for devices.
 * stop() stops reading and reopening, waits until every submitted frame was committed
 * (or refused), then closes the ports.
 */
export class SerialSource implements Source {
  readonly name = 'serial';
  private readers: PortReader[] = [];
  private started = false;
  private stopping: Promise<void> | null = null;
  /** Why serialport could not be loaded, if it could not. */
  private unavailable: string | null = null;
  private inflight = 0;
  private drained: (() => void) | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly ingest: Ingest,
    private readonly options: SerialConfig,
    private readonly deps: SerialSourceDeps = {},
  ) {}

  async start(): Promise<void> {
    const { ports } = this.options;
    if (ports.length > 0) {
      let openPort: OpenPort;
      try {
        openPort = await (this.deps.loadSerialPort ?? loadSerialPort)();
      } catch (err) {
        this.unavailable = describeError(err);
        this.ctx.log.error({ component: 'serial', ports: ports.map((p) => p.name) }, this.unavailable);
        this.started = true;
        return;
      }
      const tracker = { begin: () => this.inflight++, end: () => this.settled() };
      this.readers = ports.map((p) => new PortReader(this.ctx, this.ingest, p, openPort, tracker));
      await Promise.all(this.readers.map((r) => r.start()));
    }
    this.started = true;
  }

  private settled(): void {
    if (--this.inflight === 0) this.drained?.();
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.halt()));
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all(this.readers.map((r) => r.close()));
  }

  status(): Record<string, unknown> {
    return {
      listening: this.started && this.stopping === null && this.unavailable === null,
      ...(this.unavailable === null ? {} : { error: this.unavailable }),
      ports: Object.fromEntries(this.readers.map((r) => [r.config.name, r.status()])),
    };
  }
}
