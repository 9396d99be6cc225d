/**
 * The one place that touches the `serialport` package (13.x, an optional dependency
 * with a native addon). It is imported lazily, by loadSerialPort(), and only when a
 * port is configured: a gateway without serial never loads the addon, and one whose
 * platform has no build of it still runs everything else.
 */
import { WeirError } from '../../core/errors.js';

/** The package loaded; a variable, so TypeScript does not need it installed to compile Weir. */
export const SERIALPORT_PACKAGE = 'serialport';

/** What Weir uses of serialport's SerialPort: a Duplex stream over one tty. */
export interface SerialPortHandle {
  readonly isOpen: boolean;
  open(callback: (err: Error | null) => void): void;
  close(callback?: (err: Error | null) => void): void;
  pause(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  /** `close` carries a DisconnectedError when the device went away; `end` follows a read of 0 bytes. */
  on(event: 'close' | 'end', listener: (err?: Error | null) => void): unknown;
  removeAllListeners(): unknown;
}

/** A callback that does nothing: for a close whose outcome does not matter, or a late 'error'. */
export const ignore = (): void => undefined;

/** Drops a handle's listeners, keeping one for 'error' so a late error is not thrown as unhandled. */
export function detach(handle: SerialPortHandle): void {
  handle.removeAllListeners();
  handle.on('error', ignore);
}

/** serialport's open options that Weir sets (SerialPortOpenOptions<AutoDetectTypes>). */
export interface SerialOpenOptions {
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits: 1 | 1.5 | 2;
  /** Always false: the caller opens with a callback, so open errors do not become 'error' events. */
  autoOpen: false;
  /** flock() the tty (Linux, macOS): a second gateway on the same device fails to open it. */
  lock: boolean;
}

/** Makes a closed port handle; it may throw on options the platform rejects. */
export type OpenPort = (options: SerialOpenOptions) => SerialPortHandle;

/** The serial source is configured but the `serialport` package cannot be loaded. */
export class SerialUnavailableError extends WeirError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(
      'WEIR_SERIAL_UNAVAILABLE',
      `serial ports are configured but the optional package "${SERIALPORT_PACKAGE}" (13.x, native addon) could not be loaded: ${reason}. ` +
      `Install it where Weir is installed with \`npm install ${SERIALPORT_PACKAGE}@13\` (prebuilt for linux x64/arm64/arm, ` +
      'elsewhere it compiles and needs python3, make and a C++ compiler), or remove serial.ports from the config. ' +
      'The other sources keep running.',
      options,
    );
    this.name = 'SerialUnavailableError';
  }
}

type Importer = () => Promise<unknown>;
const importSerialport: Importer = () => import(SERIALPORT_PACKAGE);

/**
 * Imports `serialport` and returns a factory of port handles. Rejects with a
 * SerialUnavailableError (naming the package and how to install it) when the package
 * is missing, its native binding does not load, or it lacks the SerialPort class.
 */
export async function loadSerialPort(importer: Importer = importSerialport): Promise<OpenPort> {
  let mod: unknown;
  try {
    mod = await importer();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND'
      ? 'it is not installed'
      : `loading it failed (${e?.message ?? String(err)})`;
    throw new SerialUnavailableError(reason, { cause: err });
  }
  const ctor = (mod as { SerialPort?: unknown } | null)?.SerialPort;
  if (typeof ctor !== 'function') throw new SerialUnavailableError('it has no SerialPort class (is it version 13?)');
  const SerialPort = ctor as new (options: SerialOpenOptions) => SerialPortHandle;
  return (options) => new SerialPort(options);
}
