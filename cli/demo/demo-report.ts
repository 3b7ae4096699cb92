import type { LatencyFigures } from '../../coordinator/compression/inference-latency.js';
import type { PrivacyFigures, RunReport } from '../../coordinator/runs/run-report.js';
import type { DistillationGain } from './distillation-gain.js';

/** A model's figures on the held-out split; `auc` only for binary tasks (positive class 1). */
export interface HeldOutFigures {
  readonly accuracy: number;
  readonly auc?: number;
}

export interface LocalOnlySite extends HeldOutFigures {
  readonly site: string;
  readonly rows: number;
}

/**
 * What the federated student is judged against, on the same data and seed. Each is trained in
 * the demo's own process with the same local trainer, student and optimizer the sites use.
 */
export interface Baselines {
  /** Each site trained alone on its private rows, for as many epochs as the whole run gave it. */
  readonly local_only: {
    readonly mean: number;
    readonly best: number;
    readonly best_site: string;
    readonly auc?: { readonly mean: number; readonly best: number };
    readonly per_site: readonly LocalOnlySite[];
  };
  /** The same federation (sites, rounds, epochs, FedAvg) with alpha = 0: no teacher. */
  readonly fedavg_no_teacher: HeldOutFigures & { readonly per_round: readonly number[] };
  /**
   * The same, with the public split's labelled rows, which the teacher learned from, as one
   * more participant: what the federation reaches with every label the teacher saw. null where
   * the public split is unlabelled (an outside teacher): there are no labels to use.
   */
  readonly fedavg_public_labels:
    (HeldOutFigures & { readonly per_round: readonly number[] }) | null;
  /** The student trained on every site's rows pooled: the upper bound federation aims at. */
  readonly centralized: HeldOutFigures;
  /**
   * Every site's rows and the public split's pooled: the upper bound with every label; null
   * where the public split is unlabelled.
   */
  readonly centralized_public_labels: HeldOutFigures | null;
  /**
   * With an outside teacher, the rows it learned from: FedAvg with them as one more participant,
   * and pooled with every site's. What the federation would reach had the teacher's owner shared
   * its labelled rows rather than its logits, which the premise rules out: references, not
   * baselines the distillation gain is taken against. null where the teacher learned from the
   * public split (the public-labels baselines above see its rows). Absent from reports written
   * before they were added.
   */
  readonly fedavg_teacher_rows?:
    (HeldOutFigures & { readonly per_round: readonly number[] }) | null;
  readonly centralized_teacher_rows?: HeldOutFigures | null;
  /**
   * The teacher on the held-out split: as the run measured it (trained on the public split), or
   * as the demo measured its outside teacher, whose logits alone the run imported.
   */
  readonly teacher: HeldOutFigures & {
    readonly params: number | null;
    /**
     * Its inference time: the run's own measurement beside the student's (compression), or the
     * demo's of its outside teacher, on the same backend and machine as the run's of the student.
     */
    readonly latency_ms_per_example: LatencyFigures | null;
  };
  /** How the baselines were computed, in words, for the reader of the report. */
  readonly method: string;
  readonly wall_seconds: number;
}

export type ScenarioName = 'hospitals' | 'banks' | 'digits' | 'mail';

/** The scenario as the demo ran it. */
export interface ScenarioSummary {
  readonly name: ScenarioName;
  readonly title: string;
  /** The data set and how it was split, in words. */
  readonly data: string;
  readonly split: string;
  /**
   * Whether distillation is expected to help here and why, in one or two sentences: where the
   * teacher's knowledge comes from and whether the transfer set is labelled.
   */
  readonly premise: string;
  readonly sites: readonly {
    readonly name: string;
    readonly rows: number;
    readonly positive_share?: number;
    readonly label_counts: readonly number[];
  }[];
  readonly classes: number;
  readonly class_names: readonly string[];
}

/** What each site's own ledger says after the run (client/privacy-ledger.ts). */
export interface SitesOwnEpsilon {
  /** What the figures mean, in one sentence, for the reader of the report. */
  readonly meaning: string;
  readonly per_site: readonly {
    readonly site: string;
    /** Secure attempts the site masked into, failed ones included. */
    readonly attempts: number;
    /** null: an attempt without noise, nothing the site can vouch for. */
    readonly epsilon: number;
    readonly delta: number;
  }[];
}

/** The demo's report.json: the coordinator's run report, the scenario and the baselines. */
export type DemoReport = RunReport & {
  readonly scenario: ScenarioSummary;
  readonly baselines: Baselines;
  readonly distillation_gain: DistillationGain;
  /** With differential privacy, the sites' own spent epsilon beside the coordinator's. */
  readonly privacy?: PrivacyFigures & { readonly sites_own?: SitesOwnEpsilon };
};
