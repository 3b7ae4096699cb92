import { l2Norm, type Result } from '../../protocol/index.js';
import { FedAvg } from './fedavg.js';
import { foldMean, type MeanDeltaAcc } from './mean-delta.js';
import type { SiteUpdate } from './strategy.js';

/**
 * Norm-bounded averaging (Sun et al. 2019, "Can You Really Backdoor Federated Learning?"): each
 * update is scaled down to at most `maxNorm` in L2 before the weighted mean, so no single site
 * can move the model further than the bound.
 */
export class NormBounded extends FedAvg {
  override readonly name = 'norm-bounded';

  constructor(private readonly maxNorm: number) {
    super();
  }

  override fold(acc: MeanDeltaAcc, update: SiteUpdate): Result<MeanDeltaAcc> {
    // A NaN norm scales by 1 and an infinite one by 0, and 0 x Infinity is NaN: foldMean
    // refuses both.
    const norm = l2Norm(update.delta);
    return foldMean(acc, update, { deltaScale: norm > this.maxNorm ? this.maxNorm / norm : 1 });
  }
}
