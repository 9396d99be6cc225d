import type Database from 'better-sqlite3';
import type { RecordProcessor } from './processor.js';
import { type Row, type Segment, toRecord } from './segments.js';

/** Records read per query while replaying: bounded memory whatever the replay length. */
const REPLAY_PAGE = 2000;
const TICK = 0;
const SHIFT = 1;

export interface Checkpoint {
  /** The state covers every record with seq ≤ this. */
  seq: number;
  /** As the processor's snapshot() gave it: a string (TEXT) or bytes (a BLOB, in the same column). */
  body: string | Uint8Array;
}

/**
 * Where a RecordProcessor's checkpoints and logged ticks live: two small tables in
 * the journal's database, written inside the same transactions as the records, so a
 * checkpoint is always exactly as new as the records it covers.
 */
export class CheckpointStore {
  private readonly getStmt: Database.Statement;
  private readonly putStmt: Database.Statement;
  private readonly logStmt: Database.Statement;
  private readonly eventsStmt: Database.Statement;
  private readonly trimStmt: Database.Statement;

  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS processor_checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS processor_log (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, kind INTEGER NOT NULL, value INTEGER NOT NULL)`);
    this.getStmt = db.prepare('SELECT seq, body FROM processor_checkpoint WHERE id = 1');
    this.putStmt = db.prepare('INSERT INTO processor_checkpoint (id, seq, body) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, body = excluded.body');
    this.logStmt = db.prepare('INSERT INTO processor_log (seq, kind, value) VALUES (?, ?, ?)');
    this.eventsStmt = db.prepare('SELECT seq, kind, value FROM processor_log WHERE seq >= ? ORDER BY id').raw();
    this.trimStmt = db.prepare('DELETE FROM processor_log WHERE seq < ?');
  }

  load(): Checkpoint | undefined {
    return this.getStmt.get() as Checkpoint | undefined;
  }

  /** Saves the state covering seq ≤ `seq` and forgets the ticks it covers (those logged before it). */
  save(seq: number, body: string | Uint8Array): void {
    this.putStmt.run(seq, body);
    this.trimStmt.run(seq);
  }

  /** A tick that derived records, after every record with seq ≤ `afterSeq` was processed. */
  logTick(afterSeq: number, now: number): void {
    this.logStmt.run(afterSeq, TICK, now);
  }

  /** A clock correction handed to the processor after every record with seq ≤ `afterSeq`. */
  logShift(afterSeq: number, offsetMs: number): void {
    this.logStmt.run(afterSeq, SHIFT, offsetMs);
  }

  /** Without a processor, a checkpoint would go stale; drop it so a later start begins afresh. */
  clear(): void {
    this.db.exec('DELETE FROM processor_checkpoint; DELETE FROM processor_log');
  }

  /**
   * Rebuilds the processor's state: restore(checkpoint), then every record after it and
   * every logged tick and clock shift at its place, in sequence order. Returns how many records it replayed.
   * The caller makes sure the segments still hold every record after the checkpoint.
   */
  replay(processor: RecordProcessor, cp: Checkpoint, segments: readonly Segment[]): number {
    processor.restore(cp.body);
    const events = this.eventsStmt.all(cp.seq) as Array<[number, number, number]>;
    let t = 0;
    const apply = ([, kind, value]: [number, number, number]): void => {
      if (kind !== TICK) processor.shiftClock(value);
      else if (processor.replayTick) processor.replayTick(value);
      else processor.tick(value);
    };
    let replayed = 0;
    for (const seg of segments) {
      let after = cp.seq;
      for (;;) {
        if (seg.count === 0 || seg.lastSeq <= after) break;
        const rows: Row[] = seg.read(after, REPLAY_PAGE);
        if (rows.length === 0) break;
        for (const row of rows) {
          // A tick logged after record P ran before record P + 1.
          while (t < events.length && events[t]![0] < row[0]) apply(events[t++]!);
          processor.replay(toRecord(row));
          replayed++;
        }
        after = rows[rows.length - 1]![0];
      }
    }
    while (t < events.length) apply(events[t++]!);
    return replayed;
  }
}
