import type { LoggerService, LogLevel } from '@nestjs/common';
import { pino, type Logger } from 'pino';

const LEVELS: Record<LogLevel, pino.Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Nest's logger interface over pino: one JSON object per line on stdout, with the Nest context
 * (`Runs`, `SiteSession`, ...) as a field, so logs can be shipped and queried as they are.
 */
export class PinoLogger implements LoggerService {
  private readonly logger: Logger;

  constructor(levels: readonly LogLevel[]) {
    const rank = (level: LogLevel): number => pino.levels.values[LEVELS[level]]!;
    const lowest = levels.reduce(
      (low, level) => (rank(level) < rank(low) ? level : low),
      'fatal' as LogLevel,
    );
    this.logger = pino({ name: 'fedistill-coordinator', level: LEVELS[lowest] });
  }

  private write(level: LogLevel, message: unknown, context: unknown): void {
    this.logger[LEVELS[level]](typeof context === 'string' ? { context } : {}, String(message));
  }

  log(message: unknown, context?: unknown): void {
    this.write('log', message, context);
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest[rest.length - 1]);
  }

  warn(message: unknown, context?: unknown): void {
    this.write('warn', message, context);
  }

  debug(message: unknown, context?: unknown): void {
    this.write('debug', message, context);
  }

  verbose(message: unknown, context?: unknown): void {
    this.write('verbose', message, context);
  }

  fatal(message: unknown, context?: unknown): void {
    this.write('fatal', message, context);
  }
}
