import type { AnalyticsStage } from '../analytics/analytics-stage.js';
import type { Alert } from '../analytics/rules/types.js';
import type { Context } from '../core/context.js';
import type { UplinkStatus } from '../forwarder/uplink.js';
import { freeBytesIn } from '../journal/disk-guard.js';
import type { JournalStats } from '../journal/journal.js';
import type { Source } from '../sources/source.js';

export const VERSION = '0.1.0';

/** The document behind /api/status and `weir status`. */
export interface GatewayStatus {
  gateway: string;
  version: string;
  startedAt: number;
  uptimeSeconds: number;
  uplink: UplinkStatus;
  /** Names of the device profiles in force (they change on SIGHUP). */
  profiles: string[];
  /** Gateway clock: 'unsynced' while received times are provisional. */
  clock: string;
  backlog: JournalStats['backlog'];
  backlogTotal: number;
  oldestUnsentAgeSeconds: number;
  lastSeq: number;
  disk: { dataDir: string; journalBytes: number; freeBytes: number | null } & Partial<NonNullable<JournalStats['disk']>>;
  sources: Record<string, Record<string, unknown>>;
  /** Edge analytics; null when no profile declares windows or rules. */
  analytics: (ReturnType<AnalyticsStage['stats']> & { firing: Alert[] }) | null;
}

/** `weir status` lists at most this many firing alerts (the count is always exact). */
const FIRING_LISTED = 100;

export function buildStatus(
  ctx: Context, startedAt: number, journal: JournalStats, uplink: UplinkStatus, sources: Source[], analytics: AnalyticsStage | null, clock: string,
  profiles: string[],
): GatewayStatus {
  const now = ctx.clock.now();
  // The journal measured it already when it reports its disk use.
  const freeBytes = journal.disk ? journal.disk.freeBytes : freeBytesIn(ctx.config.dataDir);
  return {
    gateway: ctx.config.gateway.id,
    version: VERSION,
    startedAt,
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    uplink,
    profiles,
    clock,
    backlog: journal.backlog,
    backlogTotal: Object.values(journal.backlog).reduce((a, b) => a + b, 0),
    oldestUnsentAgeSeconds: journal.oldestReceived === null ? 0 : Math.max(0, (now - journal.oldestReceived) / 1000),
    lastSeq: journal.lastSeq,
    disk: { ...journal.disk, dataDir: ctx.config.dataDir, journalBytes: journal.diskBytes, freeBytes },
    sources: Object.fromEntries(sources.map((s) => [s.name, s.status()])),
    analytics: analytics ? { ...analytics.stats(), firing: analytics.firing().slice(0, FIRING_LISTED) } : null,
  };
}
