import { pino, stdSerializers, type DestinationStream, type Logger, type LevelWithSilent, type LoggerOptions } from 'pino';
import { redactForLog, redactText } from './secrets.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** pino's error form (type, message, stack, cause, own fields), which the redaction then walks. */
const plainError = (err: Error): object => stdSerializers.err(err);

/**
 * Secrets must never reach a log file, whatever a caller passes in and however deep (the rule is
 * service/secrets.ts). pino's own `redact` takes fixed paths only, so the object of each line goes
 * through the redaction instead: the formatter runs only for lines that are written (a disabled
 * level is a no-op) and its walk is bounded (LOG_LIMITS), so no object can stall a log call.
 */
export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'sitecall' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: (object) => redactForLog(object, plainError) },
    serializers: {
      // errors were made plain and redacted by the formatter, wherever they were in the object
      err: (value: unknown) => value,
      // an error's message becomes the line's message when none is given
      msg: (message: unknown) => (typeof message === 'string' ? redactText(message) : message),
    },
  };
  const root = destination ? pino(options, destination) : pino(options);
  // pino formats a child's bindings with no formatter of ours; every child inherits this from the root.
  const child = root.child;
  root.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactForLog(bindings, plainError), childOptions);
  } as Logger['child'];
  return root;
}
