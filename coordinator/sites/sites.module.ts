import { Module } from '@nestjs/common';
import { SitesService } from './sites.service.js';

@Module({ providers: [SitesService], exports: [SitesService] })
export class SitesModule {}
