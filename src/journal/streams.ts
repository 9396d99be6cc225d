/**
 * The journal's streams, one Kafka topic each. The numeric id is what the journal
 * stores; it is part of the on-disk format, so ids are never reused or renumbered.
 */
export const STREAMS = ['readings', 'aggregates', 'alerts', 'deadletter', 'status'] as const;
export type StreamName = (typeof STREAMS)[number];

export const STREAM_ID: Record<StreamName, number> = {
  readings: 0,
  aggregates: 1,
  alerts: 2,
  deadletter: 3,
  status: 4,
};

export function streamName(id: number): StreamName {
  const name = STREAMS[id];
  if (name === undefined) throw new Error(`unknown journal stream id ${id}`);
  return name;
}

/** Streams whose records are about one device: their value carries a "device" field. */
export const DEVICE_STREAMS: ReadonlySet<StreamName> = new Set(['readings', 'aggregates', 'alerts']);

/** A zero count for every stream. */
export function emptyCounts(): Record<StreamName, number> {
  return Object.fromEntries(STREAMS.map((s) => [s, 0])) as Record<StreamName, number>;
}
