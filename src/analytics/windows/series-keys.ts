/**
 * Series identities, interned per window spec (internal to windows/).
 *
 * Why: the engine looks a reading's series up in its open windows once per metric and
 * spec. Building `group|metric` strings for that allocated two strings per lookup, each
 * flattened and hashed anew by the Map lookup (V8 caches a hash in the string). Each
 * new series also held its own copy of the group-by tags. Interning gives every
 * (group, metric) one key string, hashed once, and every group one frozen tags
 * object, shared by all devices and windows: per reading nothing is allocated, and an open
 * window key holds two shared references instead of two objects of its own.
 *
 * Bounded: a spec's table holds at most MAX_GROUPS groups; past that it starts afresh
 * (keys compare by content, so a re-created key finds the same series — only sharing is
 * lost), so a tag with unbounded values cannot grow it without limit.
 *
 * Call order: one SeriesKeys per compiled spec, `group(tags)` per reading, then
 * `key(group, metric)` per metric, and `label(group, metric, profile)` when a series opens. No errors.
 */
import { groupKey, pickTags, seriesKey } from './state.js';

const MAX_GROUPS = 4096;
const NO_TAGS: Readonly<Record<string, string>> = Object.freeze({});

/** What an aggregate says its series is; interned, shared between window slots: never mutate. */
export interface SeriesLabel {
  readonly metric: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly profile: string;
}

/** One group of one spec: its key part, its tags, its series keys by metric and its labels by `profile\nmetric`. */
export interface SeriesGroup {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly keys: Map<string, string>;
  readonly labels: Map<string, SeriesLabel>;
}

export class SeriesKeys {
  /** By the single group-by tag's value (one tag) or by groupKey() (several). */
  private groups = new Map<string, SeriesGroup>();
  /** Readings lacking the single group-by tag (or any, with none declared). */
  private missing: SeriesGroup | undefined;

  constructor(private readonly groupBy: readonly string[]) {}

  /** The group of a reading with these tags. */
  group(tags: Readonly<Record<string, string>>): SeriesGroup {
    const by = this.groupBy;
    if (by.length === 0) return (this.missing ??= newGroup('', NO_TAGS));
    if (by.length === 1) {
      const t = by[0]!;
      if (!Object.hasOwn(tags, t)) return (this.missing ??= newGroup(groupKey(tags, by), NO_TAGS));
      const value = tags[t]!;
      return this.groups.get(value) ?? this.add(value, tags);
    }
    const id = groupKey(tags, by);
    return this.groups.get(id) ?? this.add(id, tags);
  }

  /** The series key of `metric` in `g` (seriesKey(metric, g.id), interned). */
  key(g: SeriesGroup, metric: string): string {
    let k = g.keys.get(metric);
    if (k === undefined) {
      k = seriesKey(metric, g.id);
      if (g.keys.size < MAX_GROUPS) g.keys.set(metric, k);
    }
    return k;
  }

  /** The label of `metric` in `g` for a reading of `profile` (interned like key()). */
  label(g: SeriesGroup, metric: string, profile: string): SeriesLabel {
    const name = `${profile}\n${metric}`;
    let l = g.labels.get(name);
    if (l === undefined) {
      l = Object.freeze({ metric, tags: g.tags, profile });
      if (g.labels.size < MAX_GROUPS) g.labels.set(name, l);
    }
    return l;
  }

  private add(lookup: string, tags: Readonly<Record<string, string>>): SeriesGroup {
    if (this.groups.size >= MAX_GROUPS) this.groups = new Map();
    const g = newGroup(groupKey(tags, this.groupBy), Object.freeze(pickTags(tags, this.groupBy)));
    this.groups.set(lookup, g);
    return g;
  }
}

function newGroup(id: string, tags: Readonly<Record<string, string>>): SeriesGroup {
  return { id, tags, keys: new Map(), labels: new Map() };
}
