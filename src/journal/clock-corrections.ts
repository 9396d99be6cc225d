import type Database from 'better-sqlite3';
import type { StoredRecord } from './journal.js';

/**
 * Gateway clock corrections (issue 4, point 3). A record received while the gateway
 * clock was not yet trustworthy (no RTC, NTP not synced: core/clock-sync.ts) is
 * journaled with a provisional `received` and the body marker `"clock":"unsynced"`.
 * When the clock syncs, one offset corrects every such record (their stamps come from
 * the monotonic clock), and the journal records it here: (through_seq, offset_ms).
 *
 * The rows themselves are never rewritten — analytics replays must see exactly what
 * the live run saw — the correction is applied as records are read for Kafka: received
 * (and ts, when it was the gateway's time: ts = received) move by the offset, and the
 * marker becomes `"clock":"corrected","clock_offset_ms":<offset>`. Records forwarded
 * before the sync keep the "unsynced" marker.
 *
 * Aggregates and alerts computed from readings whose event time was the provisional
 * gateway time (a device that sends none) are marked too (analytics/records.ts): an
 * alert's ts then equals its received and moves with it; a marked aggregate's
 * window_start and window_end move as well. One computed after the sync from such a
 * window is journaled already corrected.
 */

/** The body marker of a record stamped with a provisional gateway time. */
export const UNSYNCED_MARK = '"clock":"unsynced"';

export interface ClockCorrection {
  /** Corrects unsynced records with seq ≤ this (and above the previous correction's). */
  throughSeq: number;
  offsetMs: number;
}

export const CLOCK_CORRECTIONS_DDL = 'CREATE TABLE IF NOT EXISTS clock_corrections (through_seq INTEGER PRIMARY KEY, offset_ms INTEGER NOT NULL)';

/** Reads the corrections of a journal database (empty when the table does not exist yet). */
export function correctionLoader(db: Database.Database): () => ClockCorrection[] {
  let stmt: Database.Statement | undefined;
  return () => {
    try {
      stmt ??= db.prepare('SELECT through_seq, offset_ms FROM clock_corrections ORDER BY through_seq').raw();
    } catch {
      return [];
    }
    return (stmt.all() as Array<[number, number]>).map(([throughSeq, offsetMs]) => ({ throughSeq, offsetMs }));
  };
}

/** The marker as markUnsynced() leaves it: the body's last member (what counts; see applyClockCorrections). */
export const UNSYNCED_MARK_END = `${UNSYNCED_MARK}}`;

/**
 * Applies the corrections to records read for forwarding (in place; records are fresh objects from the page).
 * Only the marker at the end counts: the same text inside the body is device data (a tag "clock" of value "unsynced").
 */
export function applyClockCorrections(records: StoredRecord[], corrections: readonly ClockCorrection[]): void {
  if (corrections.length === 0) return;
  for (const r of records) {
    if (!r.body.endsWith(UNSYNCED_MARK_END)) continue;
    const at = r.body.length - UNSYNCED_MARK_END.length;
    const c = corrections.find((k) => r.seq <= k.throughSeq);
    if (!c) continue; // not synced yet
    if (r.ts === r.received) r.ts += c.offsetMs;
    r.received += c.offsetMs;
    let head = r.body.slice(0, at);
    // Marked only when its window was filled on the provisional timeline (analytics/records.ts).
    if (r.stream === 'aggregates') head = shiftMember(shiftMember(head, 'window_start', c.offsetMs), 'window_end', c.offsetMs);
    r.body = `${head}${correctedMark(c.offsetMs)}${r.body.slice(at + UNSYNCED_MARK.length)}`;
  }
}

/** The marker of a record whose provisional times were moved by `offsetMs` (the body's last member). */
export function correctedMark(offsetMs: number): string {
  return `"clock":"corrected","clock_offset_ms":${offsetMs}`;
}

/**
 * An aggregate's body with the number of member `name` moved by `by`. The last
 * occurrence is the member: in records.ts's layout every string (metric, tags, window
 * name, where a tag may be called "window_start") comes before the window bounds, and
 * only numbers after them.
 */
function shiftMember(body: string, name: string, by: number): string {
  const key = `"${name}":`;
  const from = body.lastIndexOf(key);
  if (from < 0) return body;
  const at = from + key.length;
  const end = body.indexOf(',', at);
  return `${body.slice(0, at)}${Number(body.slice(at, end)) + by}${body.slice(end)}`;
}

/** Appends the unsynced marker to a JSON object text. */
export function markUnsynced(body: string): string {
  return body.length > 2 ? `${body.slice(0, -1)},${UNSYNCED_MARK}}` : `{${UNSYNCED_MARK}}`;
}

/** markUnsynced() undone: the text as it was before, when it ends with the marker. */
export function unmarkUnsynced(body: string): string {
  if (body === `{${UNSYNCED_MARK}}`) return '{}';
  const suffix = `,${UNSYNCED_MARK}}`;
  return body.endsWith(suffix) ? `${body.slice(0, -suffix.length)}}` : body;
}
