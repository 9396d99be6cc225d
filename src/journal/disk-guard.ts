import { statfsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { Segment } from './segments.js';
import { STREAM_ID, type StreamName } from './streams.js';

/** Evicted first to last: readings, then dead letters and status, aggregates and alerts last (issue 5). */
export const EVICTION_ORDER: readonly StreamName[] = ['readings', 'deadletter', 'status', 'aggregates', 'alerts'];
/** Records deleted per eviction step; each step is one gap record. */
const EVICT_CHUNK = 2000;
/** Eviction goes down to this share of the cap, so it runs in bursts, not on every commit. */
const LOW_WATER = 0.9;
/** Free pages beyond this are handed back to the filesystem, this many per step. */
const VACUUM_PAGES = 1024;

/** Free bytes for unprivileged use in `dir`'s filesystem; null where statfs is unsupported (then the floor cannot be checked). */
export function freeBytesIn(dir: string): number | null {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize;
  } catch {
    return null;
  }
}

export interface DiskLimits {
  maxBytes: number;
  minFreeBytes: number;
}

export interface DiskUsage {
  /** Bytes of the database in use (pages less the free list). */
  usedBytes: number;
  /** The database file's size, free pages included. */
  fileBytes: number;
  /** Free bytes in dataDir's filesystem; null where statfs is unsupported. */
  freeBytes: number | null;
}

/** One eviction step: the records of one stream deleted, for the gap record. */
export interface Gap {
  stream: StreamName;
  fromSeq: number;
  toSeq: number;
  count: number;
  /** Records per device (key). */
  devices: Record<string, number>;
}

/**
 * Measures the journal against journal.maxBytes and journal.minFreeBytes, and evicts.
 * Why used pages, not the file size: pages freed by eviction or dropped segments are
 * reused by the next inserts, so the cap is on what the journal holds; the free list
 * beyond a few MB is returned to the filesystem by incremental vacuum (auto_vacuum =
 * INCREMENTAL, set at creation), a step at a time so it never stalls ingest.
 */
export class DiskGuard {
  private readonly pageCount: Database.Statement;
  private readonly freeCount: Database.Statement;
  private readonly pageSize: number;

  constructor(private readonly db: Database.Database, private readonly dataDir: string, private readonly limits: DiskLimits) {
    this.pageCount = db.prepare('PRAGMA page_count').pluck();
    this.freeCount = db.prepare('PRAGMA freelist_count').pluck();
    this.pageSize = Number(db.pragma('page_size', { simple: true }));
  }

  usage(): DiskUsage {
    const pages = Number(this.pageCount.get());
    const free = Number(this.freeCount.get());
    return { usedBytes: (pages - free) * this.pageSize, fileBytes: pages * this.pageSize, freeBytes: freeBytesIn(this.dataDir) };
  }

  /** Bytes to remove to get back under LOW_WATER of the cap and above the floor; 0 when within limits. */
  excess(u: DiskUsage = this.usage()): number {
    const { maxBytes, minFreeBytes } = this.limits;
    let need = maxBytes > 0 && u.usedBytes > maxBytes ? u.usedBytes - maxBytes * LOW_WATER : 0;
    if (u.freeBytes !== null && u.freeBytes < minFreeBytes) {
      // Free pages come back by vacuum alone; evict only what they do not cover, with the same margin.
      const reclaimable = u.fileBytes - u.usedBytes;
      need = Math.max(need, minFreeBytes - u.freeBytes - reclaimable + u.usedBytes * (1 - LOW_WATER));
    }
    return Math.max(0, need);
  }

  full(u: DiskUsage = this.usage()): boolean {
    const { maxBytes, minFreeBytes } = this.limits;
    return (maxBytes > 0 && u.usedBytes > maxBytes) || (u.freeBytes !== null && u.freeBytes < minFreeBytes);
  }

  /**
   * Deletes the oldest records of the first stream in EVICTION_ORDER that has any after
   * `afterSeq`, at most EVICT_CHUNK; the caller runs it inside a transaction and repeats
   * while excess() > 0. Returns what it deleted, or null when nothing is left to evict.
   */
  evictStep(segments: readonly Segment[], afterSeq: number): Gap | null {
    for (const stream of EVICTION_ORDER) {
      const id = STREAM_ID[stream];
      for (const seg of segments) {
        if (seg.count === 0 || seg.lastSeq <= afterSeq) continue;
        const rows = seg.oldestOf(id, afterSeq, EVICT_CHUNK);
        if (rows.length === 0) continue;
        const fromSeq = rows[0]![0];
        const toSeq = rows[rows.length - 1]![0];
        const devices: Record<string, number> = {};
        for (const [, key] of rows) devices[key] = (devices[key] ?? 0) + 1;
        const count = seg.deleteRange(id, fromSeq, toSeq);
        return { stream, fromSeq, toSeq, count, devices };
      }
    }
    return null;
  }

  /** Returns up to VACUUM_PAGES free pages to the filesystem when more than `keep` pages are free. */
  vacuumStep(keep = VACUUM_PAGES): number {
    const free = Number(this.freeCount.get());
    if (free <= keep) return 0;
    this.db.pragma(`incremental_vacuum(${VACUUM_PAGES})`);
    return free - Number(this.freeCount.get());
  }
}
