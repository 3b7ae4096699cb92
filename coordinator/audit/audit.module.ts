import { Global, Module } from '@nestjs/common';
import { AuditService } from './audit.service.js';

/** Global: runs, sites and the API all record into the one log. */
@Global()
@Module({ providers: [AuditService], exports: [AuditService] })
export class AuditModule {}
