import { stat } from 'node:fs/promises';
import type { SerialPortConfig } from '../../config/serial-schema.js';
import type { Context } from '../../core/context.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { backoffDelay } from '../../forwarder/backoff.js';
import type { Ingest, IngestCallback } from '../../ingest/ingest.js';
import { createFramer, type Frame, type Framer } from './framing.js';
import type { OpenPort, SerialPortHandle } from './open-port.js';

/**
 * While a port is open its path is checked this often: a device that vanished
 * without the read failing (seen with a PTY whose other end went away) is noticed.
 */
export const WATCH_INTERVAL_MS = 1000;

export type PortState = 'opening' | 'open' | 'closed' | 'stopped';

/** Called around each submit, so the source can wait for in-flight commits at stop(). */
export interface SubmitTracker {
  begin(): void;
  end(): void;
}

const ignore = (): void => undefined;

/**
 * One configured serial port: opens it, cuts what it reads into frames and submits
 * each to ingest in stream order; on error, close or disappearance of the device it
 * reopens with exponential backoff and full jitter (reopenMinMs … reopenMaxMs),
 * logging once when the port is lost and once when it is back. Serial devices get no
 * acknowledgement, so a frame the journal refuses is lost: it is counted and logged.
 */
export class PortReader {
  private state: PortState = 'closed';
  private handle: SerialPortHandle | null = null;
  private readonly framer: Framer;
  private readonly log: Logger;
  /** Reopen attempts since the port was lost. */
  private attempt = 0;
  private cancelReopen: (() => void) | null = null;
  private cancelWatch: (() => void) | null = null;
  /** The open attempt in progress, awaited by halt(). */
  private opening: Promise<void> | null = null;
  /** Device number of the tty when opened; a change means another device now has the path. */
  private rdev: number | null = null;
  private lostAt: number | null = null;
  private journalFailing = false;
  private readonly counters = { frames: 0, bytes: 0, oversize: 0, deadLetters: 0, errors: 0, reopens: 0 };
  private lastError: { message: string; at: number } | null = null;
  private since: number;

  constructor(
    private readonly ctx: Context,
    private readonly ingest: Ingest,
    readonly config: SerialPortConfig,
    private readonly openPort: OpenPort,
    private readonly tracker: SubmitTracker,
  ) {
    this.framer = createFramer(config);
    this.log = ctx.log.child({ component: 'serial', port: config.name, path: config.path });
    this.since = ctx.clock.now();
  }

  /** The first open attempt; resolves once it succeeded or failed (a failure schedules retries). */
  start(): Promise<void> {
    return this.tryOpen();
  }

  private setState(state: PortState): void {
    this.state = state;
    this.since = this.ctx.clock.now();
  }

  private tryOpen(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    const { path, baudRate, dataBits, parity, stopBits } = this.config;
    this.setState('opening');
    this.opening = new Promise<void>((resolve) => {
      let handle: SerialPortHandle;
      try {
        handle = this.openPort({ path, baudRate, dataBits, parity, stopBits, autoOpen: false, lock: true });
      } catch (err) {
        this.openFailed(err);
        return resolve();
      }
      handle.on('error', (err) => this.lost(handle, err));
      handle.open((err) => {
        if (err) {
          detach(handle);
          this.openFailed(err);
        } else if (this.state === 'stopped') {
          detach(handle);
          this.handle = handle; // opened while stopping: close() closes it
        } else {
          this.opened(handle);
        }
        resolve();
      });
    }).finally(() => (this.opening = null));
    return this.opening;
  }

  private opened(handle: SerialPortHandle): void {
    this.handle = handle;
    this.setState('open');
    handle.on('data', (chunk) => this.onData(chunk));
    handle.on('close', (err) => this.lost(handle, err ?? new Error('port closed')));
    handle.on('end', () => this.lost(handle, new Error('end of stream')));
    if (this.lostAt === null) {
      this.log.info({ baudRate: this.config.baudRate, framing: this.config.framing }, 'serial port open');
    } else {
      this.counters.reopens++;
      this.log.info({ attempts: this.attempt, downMs: this.ctx.clock.now() - this.lostAt }, 'serial port reopened; reading resumes');
    }
    this.lostAt = null;
    this.attempt = 0;
    this.rdev = null;
    stat(this.config.path).then((s) => { if (this.handle === handle) this.rdev = s.rdev; }, ignore);
    this.watch(handle);
  }

  private openFailed(err: unknown): void {
    if (this.state === 'stopped') return;
    // An outage counts as one error however many retries fail; lastError shows the latest.
    this.noteError(err, this.lostAt === null);
    this.setState('closed');
    if (this.lostAt === null) {
      // The first failure of an outage is logged; the retries are not (they would flood the log while unplugged).
      this.lostAt = this.ctx.clock.now();
      this.log.warn({ err: describeError(err), retryMaxMs: this.config.reopenMaxMs }, 'serial port cannot be opened; retrying with backoff');
    } else {
      this.log.debug({ err: describeError(err), attempt: this.attempt }, 'serial port still cannot be opened');
    }
    this.scheduleReopen();
  }

  /** The device went away (error, close, end of stream, path gone): close what is left and reopen. */
  private lost(handle: SerialPortHandle, err: unknown): void {
    if (handle !== this.handle || this.state !== 'open') return; // stale: an earlier handle, or already handled
    this.noteError(err);
    this.handle = null;
    this.stopWatch();
    detach(handle);
    if (handle.isOpen) handle.close(ignore);
    const dropped = this.framer.reset();
    this.setState('closed');
    this.lostAt = this.ctx.clock.now();
    this.attempt = 0;
    this.log.warn({ err: describeError(err), droppedBytes: dropped }, 'serial port lost; reopening with backoff');
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    const delay = backoffDelay(this.attempt++, this.config.reopenMinMs, this.config.reopenMaxMs);
    this.cancelReopen = this.ctx.clock.setTimer(delay, () => {
      this.cancelReopen = null;
      void this.tryOpen();
    });
  }

  private watch(handle: SerialPortHandle): void {
    this.cancelWatch = this.ctx.clock.setTimer(WATCH_INTERVAL_MS, () => {
      this.cancelWatch = null;
      stat(this.config.path).then(
        (s) => {
          if (this.handle !== handle) return;
          if (this.rdev !== null && s.rdev !== this.rdev) return this.lost(handle, new Error(`${this.config.path} now names another device`));
          this.watch(handle);
        },
        (err: NodeJS.ErrnoException) => {
          if (this.handle !== handle) return;
          if (err.code === 'ENOENT') return this.lost(handle, new Error(`${this.config.path} disappeared`));
          this.watch(handle);
        },
      );
    });
  }

  private stopWatch(): void {
    this.cancelWatch?.();
    this.cancelWatch = null;
  }

  private noteError(err: unknown, count = true): void {
    if (count) this.counters.errors++;
    this.lastError = { message: describeError(err), at: this.ctx.clock.now() };
  }

  private onData(chunk: Buffer): void {
    this.counters.bytes += chunk.length;
    for (const frame of this.framer.push(chunk)) this.submit(frame);
  }

  private submit(frame: Frame): void {
    this.counters.frames++;
    if (frame.oversize) this.counters.oversize++;
    const { name, path, maxFrameBytes } = this.config;
    const done: IngestCallback = (err, outcome) => {
      this.counters.deadLetters += outcome.rejects.length;
      if (err) {
        this.noteError(err);
        // Once per run of failures: a busy journal refuses every frame for a while.
        if (!this.journalFailing) this.log.warn({ err: describeError(err) }, 'serial frames lost: the journal refused them (serial devices cannot resend)');
        this.journalFailing = true;
      } else if (this.journalFailing) {
        this.journalFailing = false;
        this.log.info('the journal takes serial frames again');
      }
      this.tracker.end();
    };
    this.tracker.begin();
    this.ingest.submit({ protocol: 'serial', topic: name, payload: frame.payload, client: path, maxBytes: maxFrameBytes }, done);
  }

  /** Stops reading and reopening; resolves once no open attempt is in progress. The port stays open until close(). */
  async halt(): Promise<void> {
    this.setState('stopped');
    this.cancelReopen?.();
    this.cancelReopen = null;
    this.stopWatch();
    const dropped = this.framer.reset();
    if (dropped) this.log.debug({ droppedBytes: dropped }, 'partial frame dropped at stop');
    if (this.handle) {
      this.handle.removeAllListeners();
      this.handle.on('error', ignore);
      this.handle.pause();
    }
    await this.opening;
  }

  /** Closes the port (after halt()). */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (!handle?.isOpen) return;
    await new Promise<void>((resolve) => handle.close(() => resolve()));
  }

  status(): Record<string, unknown> {
    const c = this.config;
    return {
      path: c.path,
      state: this.state,
      open: this.state === 'open',
      since: this.since,
      framing: c.framing,
      baudRate: c.baudRate,
      // Reopen attempts of the current outage, the scheduled one included.
      attempt: this.state === 'open' ? 0 : this.attempt,
      ...this.counters,
      discardedBytes: this.framer.discardedBytes,
      lastError: this.lastError,
    };
  }
}

/** Drops a handle's listeners, keeping one for 'error' so a late error is not thrown as unhandled. */
function detach(handle: SerialPortHandle): void {
  handle.removeAllListeners();
  handle.on('error', ignore);
}
