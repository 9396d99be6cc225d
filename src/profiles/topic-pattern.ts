/**
 * Topic and path patterns: `sensors/{device}/cpu`. Segments are split on "/"
 * (MQTT topic levels, MQTT 3.1.1 §4.7; URI path segments, RFC 3986 §3.3).
 * - a literal segment matches itself;
 * - `{name}` matches exactly one non-empty segment and captures it as `name`;
 * - `+` matches exactly one segment, an empty one too, without capturing (MQTT's
 *   single-level wildcard: `a/+/b` matches `a//b`, §4.7.1.3);
 * - a final `#` matches any remaining levels, zero or more (MQTT's multi-level one).
 * A leading "/" is ignored for CoAP and HTTP paths, so `/t/{device}` and `t/{device}` are one;
 * for MQTT it is an empty first level, as the spec has it. For MQTT, a pattern whose
 * first segment is `+`, `#` or `{name}` does not match a topic starting with "$"
 * (`$SYS/…`: the server's own topics, §4.7.2).
 */
export interface TopicPattern {
  source: string;
  /** True when the pattern has no wildcards: it is matched by exact lookup. */
  literal: boolean;
  /** Count of literal segments: more specific patterns are tried first. */
  specificity: number;
  match(topic: string): Record<string, string> | null;
}

const NAME = /^\{([a-zA-Z_][a-zA-Z0-9_]*)\}$/;

/**
 * CoAP and HTTP paths lose a leading "/"; MQTT topics keep it: in MQTT "/a" and "a"
 * are different topics (MQTT 3.1.1 §4.7.3).
 */
export function normalizeTopic(topic: string, keepLeadingSlash = false): string {
  return !keepLeadingSlash && topic.startsWith('/') ? topic.slice(1) : topic;
}

/**
 * Compiles a pattern; throws an Error with a readable message when it is malformed.
 * `mqtt`: MQTT topic rules (a leading "/" is a level, §4.7.3; "$" topics, §4.7.2).
 */
export function compilePattern(source: string, mqtt = false): TopicPattern {
  const norm = (t: string) => normalizeTopic(t, mqtt);
  const segments = norm(source).split('/');
  const names = new Set<string>();
  const parts = segments.map((seg, i) => {
    const named = NAME.exec(seg);
    if (named) {
      const name = named[1]!;
      if (names.has(name)) throw new Error(`segment name {${name}} is used twice in "${source}"`);
      names.add(name);
      return { kind: 'capture' as const, name };
    }
    if (seg === '+') return { kind: 'any' as const };
    if (seg === '#') {
      if (i !== segments.length - 1) throw new Error(`"#" must be the last segment in "${source}"`);
      return { kind: 'rest' as const };
    }
    if (/[{}+#]/.test(seg)) throw new Error(`malformed segment "${seg}" in "${source}" (use {name}, + or a final #)`);
    return { kind: 'literal' as const, text: seg };
  });
  const literal = parts.every((p) => p.kind === 'literal');
  const normalized = segments.join('/');
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with "$".
  const skipsDollar = mqtt && parts[0]!.kind !== 'literal';
  return {
    source,
    literal,
    specificity: parts.filter((p) => p.kind === 'literal').length,
    match(topic: string) {
      const t = norm(topic);
      if (literal) return t === normalized ? {} : null;
      if (skipsDollar && t.startsWith('$')) return null;
      const levels = t.split('/');
      const captured: Record<string, string> = {};
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        if (part.kind === 'rest') return captured;
        const level = levels[i];
        if (level === undefined) return null;
        if (part.kind === 'literal') {
          if (level !== part.text) return null;
        } else if (part.kind === 'capture') {
          // A captured level names a device or a tag: an empty one names nothing.
          if (level === '') return null;
          captured[part.name] = level;
        }
      }
      return levels.length === parts.length ? captured : null;
    },
  };
}
