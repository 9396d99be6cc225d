import { createRequire } from 'node:module';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/** The part of unix-dgram (an optional native addon) this uses: Node has no AF_UNIX datagram sockets of its own. */
interface DgramSocket {
  on(event: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
}

/**
 * systemd's service notification protocol (sd_notify(3)): newline-separated
 * assignments in one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET. The unit
 * (systemd/weir.service, Type=notify, NotifyAccess=main) waits for READY=1 before it
 * counts the gateway as started, restarts it when WATCHDOG=1 stops coming within
 * WatchdogSec (it is withheld while the gateway is unhealthy), and is told STOPPING=1
 * when a graceful stop begins.
 *
 * Call order: create() → ready() once the listeners are up → (reloading() → reloaded())*
 * → stopping() → close().
 * Without $NOTIFY_SOCKET (not under systemd) create() returns null and the gateway
 * runs as before. Errors never reach the caller: a failed send is logged, because a
 * notification problem must not stop a gateway that is otherwise serving.
 */
export class SystemdNotifier {
  private cancelWatchdog: (() => void) | null = null;
  private stopped = false;

  private constructor(private readonly socket: DgramSocket, private readonly path: string, private readonly log: Logger, private readonly clock: Clock) {}

  static create(env: NodeJS.ProcessEnv, log: Logger, clock: Clock): SystemdNotifier | null {
    const path = env.NOTIFY_SOCKET;
    if (!path) return null;
    if (path.startsWith('@')) {
      // unix-dgram copies the path with strncpy, so Linux abstract names (leading NUL) cannot be reached.
      log.warn({ path }, 'NOTIFY_SOCKET is an abstract socket, which Weir cannot address; systemd notifications are off');
      return null;
    }
    let socket: DgramSocket;
    try {
      const dgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
      socket = dgram.createSocket('unix_dgram');
    } catch (err) {
      log.error({ err }, 'NOTIFY_SOCKET is set but the optional unix-dgram addon cannot load; systemd notifications are off (reinstall with build tools present)');
      return null;
    }
    socket.on('error', (err) => log.warn({ err }, 'systemd notification socket error'));
    return new SystemdNotifier(socket, path, log, clock);
  }

  /** Sends one notification (e.g. "READY=1\nSTATUS=serving"). */
  notify(state: string): void {
    const buf = Buffer.from(state);
    this.socket.send(buf, 0, buf.length, this.path, (err) => {
      if (err) this.log.warn({ err, state }, 'systemd notification failed');
    });
  }

  /**
   * READY=1 — and, when systemd asks for a watchdog ($WATCHDOG_USEC, for this process
   * per $WATCHDOG_PID), WATCHDOG=1 at half the interval, as sd_watchdog_enabled(3) advises,
   * but only while `healthy()`: a gateway whose event loop turns but which can no longer
   * do its work until a restart (a journal that failed a flush acknowledges nothing more)
   * must let systemd see the silence and restart it (systemd.service(5), WatchdogSec=).
   * `healthy` must be false only for what a restart cures, or it becomes a restart loop.
   */
  ready(env: NodeJS.ProcessEnv, healthy: () => boolean = () => true): void {
    this.notify(`READY=1\nSTATUS=serving\nMAINPID=${process.pid}`);
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    if (!(usec > 0) || !forUs) return;
    const every = Math.max(1, Math.floor(usec / 2000));
    let withheld = false;
    const beat = (): void => {
      if (healthy()) {
        withheld = false;
        this.notify('WATCHDOG=1');
      } else if (!withheld) {
        withheld = true;
        this.log.error('the gateway is unhealthy (see /readyz): watchdog pings withheld, so systemd restarts it');
      }
      this.cancelWatchdog = this.clock.setTimer(every, beat);
    };
    this.cancelWatchdog = this.clock.setTimer(every, beat);
  }

  /**
   * A reload (SIGHUP) begins. sd_notify(3): RELOADING=1 goes with MONOTONIC_USEC, the
   * CLOCK_MONOTONIC time in µs (libuv's hrtime on Linux; performance.now() counts from
   * the process's start) — systemd ≥ 253 matches it against the reload it asked for, and
   * with Type=notify-reload fails the reload, and stops the service, without it.
   */
  reloading(): void {
    this.notify(`RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
  }

  /** The reload is done (applied or refused): READY=1, unless a stop began meanwhile. */
  reloaded(): void {
    if (this.stopped) return;
    this.notify('READY=1\nSTATUS=serving');
  }

  stopping(): void {
    this.stopped = true;
    this.cancelWatchdog?.();
    this.cancelWatchdog = null;
    this.notify('STOPPING=1\nSTATUS=stopping');
  }

  close(): void {
    this.cancelWatchdog?.();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
