import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout (journald keeps them; no log files on the SD card). Credentials
 * anywhere in a logged object are redacted. Components take `log.child({ component })`.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['password', '*.password', '*.*.password', 'sasl', '*.sasl', '*.*.sasl', 'token', '*.token', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    (destination ?? pino.destination({ fd: 1, sync: false })) as pino.DestinationStream,
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
