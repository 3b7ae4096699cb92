import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { RunsService, type RunStatus } from '../runs/runs.service.js';
import { orHttpError } from './api-errors.js';
import { OperatorOnly } from './roles.decorator.js';
import { TokenGuard } from './token.guard.js';

/** Runs: create from a run spec, start, pause, resume, cancel, and read status and report. */
@Controller('api/runs')
@UseGuards(TokenGuard)
export class RunsController {
  constructor(private readonly runs: RunsService) {}

  @Get()
  list(): RunStatus[] {
    return this.runs.list();
  }

  /** The body is a run spec (the config file's `run` section); it is checked before storing. */
  @Post()
  @OperatorOnly()
  create(@Body() spec: unknown): RunStatus {
    const created = orHttpError(this.runs.create(spec));
    return this.runs.status(created.id)!;
  }

  @Get(':id')
  status(@Param('id') id: string): RunStatus {
    return orHttpError(this.runs.get(id));
  }

  @Get(':id/report')
  report(@Param('id') id: string): unknown {
    return orHttpError(this.runs.report(id));
  }

  @Post(':id/start')
  @HttpCode(200)
  @OperatorOnly()
  async start(@Param('id') id: string): Promise<RunStatus> {
    return orHttpError(await this.runs.start(id));
  }

  @Post(':id/pause')
  @HttpCode(200)
  @OperatorOnly()
  pause(@Param('id') id: string): RunStatus {
    return orHttpError(this.runs.pause(id));
  }

  @Post(':id/resume')
  @HttpCode(200)
  @OperatorOnly()
  resume(@Param('id') id: string): RunStatus {
    return orHttpError(this.runs.resume(id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @OperatorOnly()
  cancel(@Param('id') id: string): RunStatus {
    return orHttpError(this.runs.cancel(id));
  }
}
