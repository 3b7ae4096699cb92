import { Controller, Get, HttpCode, Param, ParseIntPipe, Post, UseGuards } from '@nestjs/common';
import type { AuditLogExport, SignedTreeHead } from '../../protocol/index.js';
import { AuditService } from '../audit/audit.service.js';
import { orHttpError } from './api-errors.js';
import { TokenGuard } from './token.guard.js';

/** The auditor's view of the protocol log: the export, inclusion proofs and fresh tree heads. */
@Controller('api/audit')
@UseGuards(TokenGuard)
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Every entry and every signed tree head, as `fedistill audit verify` checks them. */
  @Get()
  export(): AuditLogExport {
    return this.audit.export();
  }

  /** Signs the log as it stands now (any token: a head reveals nothing and changes nothing). */
  @Post('tree-heads')
  @HttpCode(201)
  treeHead(): SignedTreeHead {
    return this.audit.signHead();
  }

  /** The entry, the latest signed head and the proof that the entry is under it. */
  @Get('proof/:seq')
  proof(@Param('seq', ParseIntPipe) seq: number): {
    entry: AuditLogExport['entries'][number];
    leafHash: string;
    treeHead: SignedTreeHead;
    proof: string[];
  } {
    return orHttpError(this.audit.proveLatest(seq));
  }
}
