import type { NamedTensor } from '../../protocol/index.js';
import { weightMask } from './magnitude-pruning.js';
import type { PruningConfig } from './pruning-config.js';
import { applyMask, prunesAny } from './pruning-mask.js';
import { sparsityAt } from './pruning-schedule.js';
import { unitMask } from './unit-pruning.js';

export interface PrunedModel {
  /** The model with every masked weight exactly 0. */
  readonly model: NamedTensor[];
  /** The mask the sites must honour from the next round on; undefined while nothing is pruned. */
  readonly mask: NamedTensor[] | undefined;
  /** The schedule's sparsity for the round. */
  readonly target: number;
}

/**
 * Prunes the aggregated model of round `round` to the schedule's sparsity. `previous` is the mask
 * the round was trained under: what it pruned stays pruned, including weights a server
 * optimizer's momentum moved off zero.
 */
export function pruneRound(
  model: readonly NamedTensor[],
  config: PruningConfig,
  round: number,
  previous?: readonly NamedTensor[],
): PrunedModel {
  const target = sparsityAt(config.schedule, round);
  let mask: NamedTensor[];
  switch (config.structure) {
    case 'weights':
      mask = weightMask(model, target, previous);
      break;
    case 'units':
      mask = unitMask(model, target, previous);
      break;
    default: {
      const unreachable: never = config.structure;
      return unreachable;
    }
  }
  return { model: applyMask(model, mask), mask: prunesAny(mask) ? mask : undefined, target };
}
