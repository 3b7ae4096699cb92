import { Global, Module } from '@nestjs/common';
import { PreAuthBudget } from './preauth-budget.js';

/** Global: both socket.io gateways release the connections they authenticate. */
@Global()
@Module({ providers: [PreAuthBudget], exports: [PreAuthBudget] })
export class LimitsModule {}
