// Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own
// summary, so CI logs can be read by tools that do not know vitest's format. A test
// that was meant to run but did not because its file or a hook failed counts as
// failed, not skipped; so does a file that failed before declaring any test, and
// unhandled errors are counted too.
import type { SerializedError } from 'vitest';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = []): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const m of modules) {
      const moduleFailed = m.state() === 'failed';
      let tests = 0;
      for (const t of m.children.allTests()) {
        tests++;
        const state = t.result().state;
        const meantToRun = t.options.mode === 'run' || t.options.mode === 'only';
        if (state === 'passed') counts.passed++;
        else if (state === 'failed' || (moduleFailed && meantToRun)) counts.failed++;
        else counts.skipped++;
      }
      if (moduleFailed && tests === 0) counts.failed++;
    }
    const errors = unhandledErrors.length ? `, ${unhandledErrors.length} unhandled errors` : '';
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped${errors}`);
  }
}
