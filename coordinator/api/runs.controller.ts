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
  list(): Promise<RunStatus[]> {
    return this.runs.list();
  }

  /** The body is a run spec (the config file's `run` section); it is checked before storing. */
  @Post()
  @OperatorOnly()
  async create(@Body() spec: unknown): Promise<RunStatus> {
    const created = orHttpError(await this.runs.create(spec));
    return (await this.runs.status(created.id))!;
  }

  @Get(':id')
  async status(@Param('id') id: string): Promise<RunStatus> {
    return orHttpError(await this.runs.get(id));
  }

  @Get(':id/report')
  async report(@Param('id') id: string): Promise<unknown> {
    return orHttpError(await this.runs.report(id));
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
  async pause(@Param('id') id: string): Promise<RunStatus> {
    return orHttpError(await this.runs.pause(id));
  }

  @Post(':id/resume')
  @HttpCode(200)
  @OperatorOnly()
  async resume(@Param('id') id: string): Promise<RunStatus> {
    return orHttpError(await this.runs.resume(id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @OperatorOnly()
  async cancel(@Param('id') id: string): Promise<RunStatus> {
    return orHttpError(await this.runs.cancel(id));
  }
}
