import { z } from 'zod';
import { DEFAULT_GRAPH_THREAT } from '../../protocol/index.js';
import type { DpConfig } from './privacy-config.js';

/**
 * SecAgg+ (PROTOCOL.md section 11): the coordinator learns only the sum of a round's updates.
 * Each site is linked to `neighbours` others (a seeded ring graph); any `threshold` of a site's
 * neighbours can rebuild its secrets, so up to neighbours - threshold of them may drop after
 * masking. Both default to the smallest graph that holds against the stated threat, a share
 * `corruptFraction` of the sites colluding with the coordinator and `dropoutFraction` dropping
 * (Bell et al.'s sizing, `degreeFor`). Each update coordinate is clipped to [-clip, clip] and
 * quantized to fixed point in Z_2^32.
 */
export const secureAggregationSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Below a third: the survivor-set quorum of the consistency round assumes no more. */
    corruptFraction: z
      .number()
      .min(0)
      .lt(1 / 3)
      .default(DEFAULT_GRAPH_THREAT.corruptFraction),
    dropoutFraction: z
      .number()
      .min(0)
      .lt(1 / 2)
      .default(DEFAULT_GRAPH_THREAT.dropoutFraction),
    neighbours: z.number().int().min(2).max(254).optional(),
    threshold: z.number().int().min(2).max(255).optional(),
    clip: z.number().positive().max(1e6).default(1),
  })
  .strict();

export type SecureAggregationConfig = z.infer<typeof secureAggregationSchema>;

/**
 * Secure aggregation hides each update, so only the plain mean can be computed from what the
 * coordinator sees; adaptive clipping needs each update's norm, which it hides as well.
 */
export function refuseSecureAggregationConflicts(
  run: {
    minSites: number;
    aggregation: { strategy: string };
    privacy: { dp?: DpConfig; secureAggregation?: SecureAggregationConfig };
  },
  ctx: z.RefinementCtx,
): void {
  const secure = run.privacy.secureAggregation;
  if (!secure?.enabled) return;
  const strategy = run.aggregation.strategy;
  if (strategy !== 'fedavg') {
    ctx.addIssue({
      code: 'custom',
      message: ['median', 'trimmed-mean'].includes(strategy)
        ? `aggregation.strategy ${strategy} needs every site's update, which secure aggregation hides from the coordinator; use fedavg`
        : `secure aggregation gives the coordinator only the sum of the updates; aggregation.strategy ${strategy} cannot be combined with it, use fedavg`,
      path: ['aggregation', 'strategy'],
    });
  }
  if (run.privacy.dp?.adaptiveClipping) {
    ctx.addIssue({
      code: 'custom',
      message: 'adaptive clipping needs each update norm, which secure aggregation hides',
      path: ['privacy', 'dp', 'adaptiveClipping'],
    });
  }
  if (run.minSites < 3) {
    ctx.addIssue({
      code: 'custom',
      message:
        'secure aggregation needs at least 3 sites a round (minSites), or a sum is one update',
      path: ['minSites'],
    });
  }
}
