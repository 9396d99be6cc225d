import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts (or locates, via KAFKA_BROKERS) the one real Kafka broker the suite shares.
    globalSetup: ['test/global-setup.ts'],
    // 2 cores and end-to-end tests that run brokers, JVMs and gateways: files run one at a time.
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
