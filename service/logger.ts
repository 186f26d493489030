import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function createLogger(level: LevelWithSilent): Logger {
  return pino({
    level,
    base: { service: 'sitecall' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Secrets must never reach a log file, whatever a caller passes in.
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'pin', '*.pin', 'pass', '*.pass', 'smtp.pass', 'req.headers.authorization', 'adminPassword'],
      censor: '[redacted]',
    },
  });
}
