import { HttpException, HttpStatus } from '@nestjs/common';
import type { ErrorCode, Result } from '../../protocol/index.js';

const STATUS: Partial<Record<ErrorCode, HttpStatus>> = {
  'run.unknown': HttpStatus.NOT_FOUND,
  'run.illegal_transition': HttpStatus.CONFLICT,
  'config.invalid': HttpStatus.BAD_REQUEST,
  'schema.invalid': HttpStatus.BAD_REQUEST,
};

/** The value, or an HTTP error carrying the coded error as its JSON body. */
export function orHttpError<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new HttpException(result.error, STATUS[result.error.code] ?? HttpStatus.BAD_REQUEST);
}
