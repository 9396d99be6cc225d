import type { WeirConfig } from '../config/schema.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * What every stage is built with: one object instead of long argument lists.
 * `signal` aborts when the gateway begins to stop.
 */
export interface Context {
  config: WeirConfig;
  log: Logger;
  clock: Clock;
  metrics: Metrics;
  signal: AbortSignal;
}
