import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { HeldOutEvaluator } from './held-out-evaluator.js';

/** Accuracy on the held-out split, which never leaves the coordinator. */
@Injectable()
export class EvaluationService extends HeldOutEvaluator implements OnModuleDestroy {
  constructor(@Inject(COORDINATOR_SETUP) setup: CoordinatorSetup) {
    super(setup.heldOut, setup.normalizer, setup.config.data.classes);
  }

  onModuleDestroy(): void {
    this.dispose();
  }
}
