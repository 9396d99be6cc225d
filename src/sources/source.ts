/**
 * A source: a listener (or a client of someone else's broker) through which devices
 * deliver payloads into the ingest path.
 *
 * Call order: start() once → payloads flow into Ingest.submit() → stop() once.
 *
 * Guarantees: start() resolves only when the source accepts traffic (that is what
 * /readyz reports). A device is acknowledged (PUBACK, 2.04, 2xx) only after the
 * callback of Ingest.submit() reported its records committed. stop() first stops
 * accepting, then lets in-flight commits finish and acknowledges them, then closes.
 *
 * Errors: start() rejects when the port cannot be bound; runtime errors of one
 * device's connection are logged and close only that connection.
 */
export interface Source {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * What /api/status shows about this source (listen address, clients, …). A source
   * that accepts connections includes `listening`, and /readyz requires it true; a
   * client of a peer (bridge, observe) reports its link instead, shown but not required.
   */
  status(): Record<string, unknown>;
}
