import type { WeirConfig } from '../config/schema.js';
import type { StoredRecord } from '../journal/journal.js';
import { DEVICE_STREAMS, type StreamName } from '../journal/streams.js';
import type { OutRecord } from './producer.js';

/** Value of the `weir-schema` header: the version of the record format in PRODUCT.md. */
export const RECORD_SCHEMA = '1';

/**
 * Builds the Kafka record for a journal record: the stored body plus the fields the
 * journal supplies (gateway, seq, received, device on device streams, profile and ts
 * when stored), the
 * device id as key, and the contract's headers. String splicing, not parse +
 * stringify: this runs once per record on a Pi.
 */
export function makeFormatter(config: WeirConfig): (r: StoredRecord) => OutRecord {
  const gateway = config.gateway.id;
  const gatewayJson = JSON.stringify(gateway);
  const topics: Record<StreamName, string> = config.kafka.topics;
  return (r) => {
    let head = `{"gateway":${gatewayJson},"seq":${r.seq},"received":${r.received}`;
    if (DEVICE_STREAMS.has(r.stream)) head += `,"device":${JSON.stringify(r.key)}`;
    if (r.profile !== undefined) head += `,"profile":${JSON.stringify(r.profile)}`;
    if (r.ts !== undefined) head += `,"ts":${r.ts}`;
    const rest = r.body.length > 2 ? `,${r.body.slice(1)}` : '}';
    return {
      topic: topics[r.stream],
      key: r.key,
      value: head + rest,
      headers: { 'weir-gateway': gateway, 'weir-seq': String(r.seq), 'weir-schema': RECORD_SCHEMA },
    };
  };
}
