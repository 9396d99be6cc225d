import { isDeepStrictEqual } from 'node:util';
import { formatProblem, loadConfig } from '../config/load.js';
import type { WeirConfig } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Gateway } from '../gateway/gateway.js';
import { loadProfiles, profileDirs } from '../profiles/registry.js';

/**
 * Config a reload applies: the profiles section, and of the analytics section only its
 * per-profile overrides (analytics.profiles); changes anywhere else, its other keys
 * included, are reported as needing a restart and left as they run.
 */
const RELOADABLE = new Set<keyof WeirConfig>(['profiles']);

/**
 * SIGHUP (`systemctl reload weir`): re-reads the config file and every device profile,
 * and swaps profiles and analytics in the running gateway — device connections stay
 * up. Any problem refuses the whole reload with one clear log line per problem, and
 * the running configuration stays. Never throws: a bad edit must not stop the gateway.
 */
export async function reloadGateway(gateway: Gateway, file: string | undefined, running: WeirConfig, log: Logger): Promise<WeirConfig> {
  try {
    const { config } = loadConfig(file);
    const { registry, problems } = loadProfiles(profileDirs(config));
    if (problems.length > 0) {
      for (const p of problems) log.error({ problem: formatProblem(p) }, 'reload refused: invalid device profile');
      return running;
    }
    const analytics = { ...running.analytics, profiles: config.analytics.profiles };
    const needRestart = (Object.keys(config) as Array<keyof WeirConfig>)
      .filter((k) => !RELOADABLE.has(k) && !isDeepStrictEqual(k === 'analytics' ? analytics : running[k], config[k]));
    if (needRestart.length > 0) log.warn({ sections: needRestart }, 'these config changes take effect only after a restart');
    await gateway.reload(registry, { ...config, analytics });
    return { ...running, profiles: config.profiles, analytics };
  } catch (err) {
    log.error({ err: describeError(err) }, 'reload refused; the running configuration stays');
    return running;
  }
}
