import {
  Controller,
  Get,
  HttpCode,
  Param,
  ParseIntPipe,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  auditQuerySchema,
  parseWith,
  type AuditLogExport,
  type AuditPage,
  type SignedTreeHead,
  type TreeHeadsView,
} from '../../protocol/index.js';
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
  export(): Promise<AuditLogExport> {
    return this.audit.export();
  }

  /** A page of entries, newest first, filtered by event (or prefix), site, run and round. */
  @Get('entries')
  entries(@Query() query: unknown): Promise<AuditPage> {
    const filter = orHttpError(parseWith(auditQuerySchema, query, 'schema.invalid', 'query'));
    return this.audit.page(filter);
  }

  /** Every signed head, its signature checked, and the stored log checked against them. */
  @Get('tree-heads')
  treeHeads(): Promise<TreeHeadsView> {
    return this.audit.treeHeads();
  }

  /** Signs the log as it stands now (any token: a head reveals nothing and changes nothing). */
  @Post('tree-heads')
  @HttpCode(201)
  treeHead(): Promise<SignedTreeHead> {
    return this.audit.signHead();
  }

  /** The entry, the latest signed head and the proof that the entry is under it. */
  @Get('proof/:seq')
  async proof(@Param('seq', ParseIntPipe) seq: number): Promise<{
    entry: AuditLogExport['entries'][number];
    leafHash: string;
    treeHead: SignedTreeHead;
    proof: string[];
  }> {
    return orHttpError(await this.audit.proveLatest(seq));
  }
}
