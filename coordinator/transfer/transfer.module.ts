import { Module } from '@nestjs/common';
import { TransferService } from './transfer.service.js';

@Module({ providers: [TransferService], exports: [TransferService] })
export class TransferModule {}
