// Values the vitest globalSetup (test/global-setup.ts) hands to every test file
// through provide()/inject(); declared here so both sides are type-checked.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated bootstrap list of the shared Kafka broker ("127.0.0.1:PORT"). */
    kafkaBrokers: string;
  }
}
