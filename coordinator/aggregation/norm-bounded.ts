import { FedAvg } from './fedavg.js';

/**
 * Norm-bounded averaging (Sun et al. 2019, "Can You Really Backdoor Federated Learning?"): each
 * update is scaled down to at most a fixed `maxNorm` in L2 before the weighted mean, so no
 * single site can move the model further than the bound; FedAvg's own bound is relative.
 */
export class NormBounded extends FedAvg {
  override readonly name = 'norm-bounded';

  constructor(maxNorm: number) {
    super({ kind: 'fixed', maxNorm });
  }
}
