import { l2Norm, type NamedTensor, type Result } from '../../protocol/index.js';
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
    const norm = l2Norm(update.delta);
    if (!Number.isFinite(norm) || norm <= this.maxNorm) return foldMean(acc, update);
    const scale = this.maxNorm / norm;
    const clipped: NamedTensor[] = update.delta.map((t) => ({
      ...t,
      values: t.values.map((v) => v * scale),
    }));
    return foldMean(acc, { ...update, delta: clipped });
  }
}
