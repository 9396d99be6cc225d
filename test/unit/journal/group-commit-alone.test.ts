// GroupCommitter's isAlone(): an item committed in a transaction of its own (the
// journal's reconfiguration barrier), so a later item's failure cannot roll it back.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.js';
import { GroupCommitter } from '../../../src/journal/group-commit.js';
import { turns } from '../support.js';

function committer(failOn?: string) {
  const groups: string[][] = [];
  const c = new GroupCommitter<string>({
    clock: new ManualClock(),
    intervalMs: 0,
    maxBatch: 100,
    maxPending: 1000,
    isAlone: (item) => item.startsWith('barrier'),
    commit: (items) => {
      if (failOn !== undefined && items.includes(failOn)) throw new Error('disk full');
      groups.push(items);
    },
  });
  return { c, groups };
}

describe('GroupCommitter isAlone', () => {
  it('ends the group before the item, commits it alone, and the rest after it', async () => {
    const { c, groups } = committer();
    for (const item of ['a', 'b', 'barrier-1', 'c', 'barrier-2', 'barrier-3', 'd']) c.add(item, () => undefined);
    c.drain();
    await turns(3);
    expect(groups).toEqual([['a', 'b'], ['barrier-1'], ['c'], ['barrier-2'], ['barrier-3'], ['d']]);
  });

  it('a failure after the item fails only its own group: the item\'s callback has no error', async () => {
    const { c } = committer('c');
    const results = new Map<string, Error | null>();
    for (const item of ['barrier-1', 'c']) c.add(item, (err) => results.set(item, err));
    c.drain();
    await turns(3);
    expect(results.get('barrier-1')).toBeNull();
    expect(results.get('c')?.message).toMatch(/disk full/);
  });
});
