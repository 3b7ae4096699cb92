import { SetMetadata } from '@nestjs/common';
import type { Role } from './tokens.js';

export const REQUIRED_ROLE = 'fedistill:required-role';

/** Marks a handler that changes state: operators only. Unmarked handlers read, for any role. */
export const OperatorOnly = (): MethodDecorator =>
  SetMetadata(REQUIRED_ROLE, 'operator' satisfies Role);
