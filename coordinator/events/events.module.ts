import { Global, Module } from '@nestjs/common';
import { CoordinatorEvents } from './coordinator-events.js';

@Global()
@Module({ providers: [CoordinatorEvents], exports: [CoordinatorEvents] })
export class EventsModule {}
