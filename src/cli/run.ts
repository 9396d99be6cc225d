import { describeStray, loadConfig, resolveConfigPath } from '../config/load.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/logger.js';
import { Gateway } from '../gateway/gateway.js';
import { SystemdNotifier } from '../ops/sd-notify.js';
import { loadProfilesOrThrow, profileDirs } from '../profiles/registry.js';
import { configOption, parse } from './args.js';
import { reloadGateway } from './reload.js';

/** `weir run`: runs until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function runCommand(args: string[]): Promise<number> {
  const { values } = parse(args, configOption);
  const { config, file, stray } = loadConfig(resolveConfigPath(values.config));
  const log = createLogger(config.log.level);
  for (const v of stray) log.warn({ variable: v.variable, suggestion: v.suggestion }, describeStray(v));
  const profiles = loadProfilesOrThrow(profileDirs(config));
  log.info({ config: file ?? '(built-in defaults)', profiles: profiles.list().map((p) => p.name) }, 'starting');

  process.on('uncaughtException', (err) => {
    // State is in the journal; a clean restart (systemd Restart=always) is safer than limping on.
    log.fatal({ err }, 'uncaught exception; exiting');
    log.flush();
    process.exit(1);
  });

  const gateway = await Gateway.start({ config, profiles, log });
  // Under systemd (Type=notify): READY once every listener is up, then the watchdog,
  // pinged while the journal has not failed a flush: that failure lasts until a restart,
  // which the withheld pings bring. Not all of /readyz: a missing serialport addon or a
  // listener a restart cannot fix would turn into a restart loop that stops every source.
  const systemd = SystemdNotifier.create(process.env, log, systemClock);
  systemd?.ready(process.env, () => gateway.journal.stats().failed === undefined);
  let running = config;
  let reloading = Promise.resolve();
  let stopping = false;
  const onHup = () => {
    // Kept during a stop, ignoring: without a listener a SIGHUP's default action kills the process mid-stop.
    if (stopping) return log.info('SIGHUP ignored: the gateway is stopping');
    log.info({ config: file ?? '(built-in defaults)' }, 'SIGHUP: reloading device profiles and rules');
    systemd?.reloading();
    reloading = reloading.then(async () => {
      running = await reloadGateway(gateway, file, running, log);
      systemd?.reloaded();
    });
  };
  process.on('SIGHUP', onHup);
  const stopped = await new Promise<boolean>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'stopping');
      stopping = true;
      // A second SIGTERM/SIGINT now takes the default action: exit at once.
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      systemd?.stopping();
      // A reload in progress ends first (it would meet a closing journal).
      reloading.then(() => gateway.stop()).then(() => resolve(true), (err) => {
        log.error({ err }, 'stop failed');
        resolve(false);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  systemd?.close();
  log.flush();
  return stopped ? 0 : 1; // a failed stop may have left records unflushed: say so to systemd
}
