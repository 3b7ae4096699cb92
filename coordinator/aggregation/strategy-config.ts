import { z } from 'zod';
import { FedAdam } from './fedadam.js';
import { FedAvg } from './fedavg.js';
import { FedAvgM } from './fedavgm.js';
import { FedYogi } from './fedyogi.js';
import { CoordinateMedian } from './median.js';
import { NormBounded } from './norm-bounded.js';
import type { AggregationStrategy } from './strategy.js';
import { TrimmedMean } from './trimmed-mean.js';
import { DEFAULT_MAX_NORM_RATIO } from './update-bounds.js';

/**
 * The mean family's norm bound: each delta is scaled down to at most this many times the median
 * update norm of the last closed round (update-bounds.ts).
 */
const maxNormRatio = z.number().min(1).max(1000).default(DEFAULT_MAX_NORM_RATIO);

const adaptive = (eta: number, tau: number) => ({
  maxNormRatio,
  eta: z.number().positive().max(10).default(eta),
  beta1: z.number().min(0).max(0.9999).default(0.9),
  beta2: z.number().min(0).max(0.9999).default(0.99),
  tau: z.number().positive().max(1).default(tau),
});

/** The run's aggregation strategy and its parameters (defaults as in Flower's strategies). */
export const aggregationConfigSchema = z
  .discriminatedUnion('strategy', [
    z.object({ strategy: z.literal('fedavg'), maxNormRatio }).strict(),
    z
      .object({
        strategy: z.literal('fedavgm'),
        // Flower's FedAvgM: server_learning_rate 1.0, server_momentum 0.0 (FedAvg until set).
        serverLearningRate: z.number().positive().max(10).default(1),
        momentum: z.number().min(0).max(0.9999).default(0),
        maxNormRatio,
      })
      .strict(),
    z.object({ strategy: z.literal('fedadam'), ...adaptive(0.1, 1e-9) }).strict(),
    z.object({ strategy: z.literal('fedyogi'), ...adaptive(0.01, 1e-3) }).strict(),
    z.object({ strategy: z.literal('median') }).strict(),
    z
      .object({
        strategy: z.literal('trimmed-mean'),
        beta: z.number().min(0).max(0.49).default(0.2),
      })
      .strict(),
    z.object({ strategy: z.literal('norm-bounded'), maxNorm: z.number().positive() }).strict(),
  ])
  .default({ strategy: 'fedavg', maxNormRatio: DEFAULT_MAX_NORM_RATIO });
export type AggregationConfig = z.infer<typeof aggregationConfigSchema>;

export function createStrategy(config: AggregationConfig): AggregationStrategy<unknown> {
  switch (config.strategy) {
    case 'fedavg':
      return new FedAvg({ kind: 'median-ratio', ratio: config.maxNormRatio });
    case 'fedavgm':
      return new FedAvgM(config);
    case 'fedadam':
      return new FedAdam(config);
    case 'fedyogi':
      return new FedYogi(config);
    case 'median':
      return new CoordinateMedian();
    case 'trimmed-mean':
      return new TrimmedMean(config.beta);
    case 'norm-bounded':
      return new NormBounded(config.maxNorm);
    default: {
      const unreachable: never = config;
      return unreachable;
    }
  }
}

/**
 * A trimmed mean that trims nothing at the fewest updates a round may close with is a plain
 * mean, which one site's outlier moves without bound: floor(beta * minSites) must be at least 1.
 */
export function refuseTrimmingNothing(
  run: { minSites: number; aggregation: AggregationConfig },
  ctx: z.RefinementCtx,
): void {
  const { aggregation, minSites } = run;
  if (aggregation.strategy !== 'trimmed-mean') return;
  if (Math.floor(aggregation.beta * minSites) >= 1) return;
  ctx.addIssue({
    code: 'custom',
    message: `trimmed-mean with beta ${aggregation.beta} trims nothing from ${minSites} updates (minSites); use beta >= ${(1 / minSites).toFixed(2)} or more sites`,
    path: ['aggregation', 'beta'],
  });
}
