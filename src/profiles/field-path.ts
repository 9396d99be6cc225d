/**
 * Field paths in profiles: `a.b.c`, with numeric segments indexing arrays
 * (`values.0.v`). Parsed once at profile load; reading one costs a few property loads.
 */
export type FieldPath = ReadonlyArray<string | number>;

export function parsePath(path: string): FieldPath {
  return path.split('.').map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg));
}

export function getPath(doc: unknown, path: FieldPath): unknown {
  let node: unknown = doc;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    // Own properties only: a payload must not reach Object.prototype through "__proto__".
    if (!Object.prototype.hasOwnProperty.call(node, seg)) return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/** Sets a value at `path`, creating objects on the way (the simulator builds payloads with it). */
export function setPath(doc: Record<string, unknown>, path: FieldPath, value: unknown): void {
  let node: Record<string | number, unknown> = doc;
  path.forEach((seg, i) => {
    if (i === path.length - 1) {
      node[seg] = value;
      return;
    }
    if (node[seg] === null || typeof node[seg] !== 'object') node[seg] = typeof path[i + 1] === 'number' ? [] : {};
    node = node[seg] as Record<string | number, unknown>;
  });
}
