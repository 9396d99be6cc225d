/**
 * Event-time windows (issue 4): a pure engine the ingest path feeds with readings and
 * checkpoints through the journal. See engine.ts for the closing, lateness, idle and
 * future-skew rules, spec.ts for declaring windows, sketch.ts for the quantile error bound.
 */
export { WindowEngine, type EncodedWindows, type PackedWindows, type WindowsHeader } from './engine.js';
export { AccumulatorSlab, MAX_ABS_VALUE, type AccumulatorOptions, type AccumulatorResult, type AccumulatorState } from './accumulator.js';
export { SKETCH_RELATIVE_ACCURACY, type SketchState } from './sketch.js';
export {
  AGGREGATE_NAMES, CORE_AGGREGATES, MAX_EVENT_TIME, MAX_WINDOW_MS, MAX_WINDOWS_PER_READING, compileSpecs, specId, windowSpecProblems, windowStarts,
  type AggregateName, type CompiledSpec, type WindowSpec,
} from './spec.js';
export { UNSYNCED, type AddResult, type Aggregate, type EngineOptions, type EngineStats, type LateReading, type ProvisionalClock, type WindowReading } from './types.js';
