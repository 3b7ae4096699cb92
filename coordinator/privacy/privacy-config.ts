import { z } from 'zod';

/**
 * The run's differential privacy (DP-FedAvg, McMahan et al. 2018): each site's update is
 * clipped to `clipNorm` in L2 at the coordinator, the clipped updates are averaged without
 * example weights (the privacy unit is one site), and Gaussian noise of standard deviation
 * z x C / m is added to the mean. An RDP accountant (research/security.md 3.1) tracks epsilon
 * at `delta`; the run ends before a round would take it past `epsilon`.
 */
export const dpConfigSchema = z
  .object({
    /** The budget: the run never spends more. */
    epsilon: z.number().positive().max(1000),
    delta: z.number().positive().max(0.1).default(1e-5),
    /**
     * The noise multiplier z. Without it, the smallest z that keeps every planned round within
     * the budget is chosen at the start of the run.
     */
    noiseMultiplier: z.number().positive().max(1000).optional(),
    /** C, or with adaptive clipping its starting value. */
    clipNorm: z.number().positive().default(1),
    /**
     * Adaptive clipping (Andrew et al. 2021): C follows the `targetQuantile` of the update
     * norms, estimated with noise.
     */
    adaptiveClipping: z
      .object({
        targetQuantile: z.number().gt(0).lt(1).default(0.5),
        learningRate: z.number().positive().max(10).default(0.2),
      })
      .strict()
      .optional(),
  })
  .strict();

export type DpConfig = z.infer<typeof dpConfigSchema>;
export type DpConfigInput = z.input<typeof dpConfigSchema>;

/**
 * DP-FedAvg replaces the run's aggregation with its own unweighted, clipped, noised mean; any
 * other strategy (a server optimizer, a robust rule) would be a different mechanism than the
 * one the accountant measures.
 */
export function refuseDpWithoutPlainMean(
  run: { aggregation: { strategy: string }; privacy: { dp?: DpConfig } },
  ctx: z.RefinementCtx,
): void {
  if (run.privacy.dp && run.aggregation.strategy !== 'fedavg') {
    ctx.addIssue({
      code: 'custom',
      message: `differential privacy aggregates with DP-FedAvg; aggregation.strategy ${run.aggregation.strategy} cannot be combined with it`,
      path: ['privacy', 'dp'],
    });
  }
}
