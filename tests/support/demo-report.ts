import type { DemoReport } from '../../cli/demo/demo-report.js';
import type { RoundSummary } from '../../coordinator/runs/run-report.js';

const ROUNDS = 5;
const STUDENT_ACCURACY = [0.874, 0.916, 0.937, 0.944, 0.951];
const FEDAVG_ACCURACY = [0.832, 0.881, 0.902, 0.916, 0.923];
const FEDAVG_PUBLIC_ACCURACY = [0.841, 0.889, 0.91, 0.921, 0.93];

function round(i: number, sites: number): RoundSummary {
  const temperature = 4 - 0.5 * i;
  return {
    round: i + 1,
    rounds: ROUNDS,
    attempt: 1,
    temperature,
    alpha: 0.7 - 0.1 * i,
    selected: sites,
    participants: sites,
    stragglers: 0,
    dropped: 0,
    student_accuracy: STUDENT_ACCURACY[i]!,
    student_loss: 0.41 - 0.05 * i,
    sparsity: 0.1 * i,
    bytes_up: 184_320 + 1_024 * i,
    bytes_down: 412_906 + 2_048 * i,
    duration_seconds: 1.8 + 0.1 * i,
  };
}

/**
 * A demo report shaped like the hospitals scenario's (three sites, five rounds, breast cancer);
 * `siteNames` lets a test put hostile text where a site's name goes.
 */
export function demoReportFixture(
  siteNames: readonly [string, string, string] = ['st-marys', 'northgate', 'riverside'],
): DemoReport {
  const rows = [152, 96, 58];
  const labelCounts = [
    [41, 111],
    [52, 44],
    [30, 28],
  ];
  const perRound = Array.from({ length: ROUNDS }, (_, i) => round(i, siteNames.length));
  const sum = (key: 'bytes_up' | 'bytes_down') => perRound.reduce((n, r) => n + r[key], 0);
  return {
    run_id: 'run-2026-12-04T09-00-26Z-7f3a',
    dataset: 'breast_cancer',
    sites: siteNames.length,
    site_names: siteNames,
    site_backends: Object.fromEntries(siteNames.map((name) => [name, 'cpu'])),
    rounds: ROUNDS,
    aggregation: 'fedavg',
    per_round: perRound,
    student_accuracy: STUDENT_ACCURACY[ROUNDS - 1]!,
    majority_class_rate: 0.627,
    held_out_rows: 114,
    student_params: 1_218,
    bytes_up: sum('bytes_up'),
    bytes_down: sum('bytes_down'),
    wall_seconds: 24.6,
    backend: 'cpu',
    compression: {
      accuracy: { teacher: 0.965, student_fp32: 0.951, student_int8: 0.947 },
      auc: { teacher: 0.993, student_fp32: 0.988, student_int8: 0.987 },
      parameters: { teacher: 10_562, student: 1_218 },
      sparsity: 0.4,
      exports: {
        parameters: 1_218,
        zeros: 462,
        sparsity: 0.379,
        tfjs: {
          float32: {
            model_json_bytes: 2_105,
            weights_bytes: 4_872,
            weights_gzip_bytes: 3_260,
            max_weight_error: 0,
          },
          float16: {
            model_json_bytes: 2_105,
            weights_bytes: 2_436,
            weights_gzip_bytes: 1_690,
            max_weight_error: 0.0004,
          },
          int8: {
            model_json_bytes: 2_398,
            weights_bytes: 1_218,
            weights_gzip_bytes: 842,
            max_weight_error: 0.0061,
          },
        },
        int8_channel_blob: { bytes: 1_410, gzip_bytes: 960, max_weight_error: 0.0023 },
      },
      latency_ms_per_example: {
        teacher: { batch_1: 0.412, batch_256: 0.0031 },
        student: { batch_1: 0.187, batch_256: 0.0009 },
      },
      files: { int8: 'runs/demo/student', fp32: 'runs/demo/student-fp32' },
    },
    secure_aggregation: false,
    teacher_source: 'model',
    teacher_accuracy: 0.965,
    teacher_cached: true,
    teacher_params: 10_562,
    teacher_transfer_accuracy: 0.981,
    scenario: {
      name: 'hospitals',
      title: 'Three hospitals distil a breast-cancer classifier',
      data: 'Wisconsin diagnostic breast cancer, 569 rows of 30 features',
      split: 'public split for the teacher, 306 private rows dealt to the sites by label skew',
      premise:
        "the teacher learns only from the coordinator's labelled public split, which a fair baseline also sees; distillation is not expected to beat it",
      sites: siteNames.map((name, i) => ({
        name,
        rows: rows[i]!,
        positive_share: labelCounts[i]![1]! / rows[i]!,
        label_counts: labelCounts[i]!,
      })),
      classes: 2,
      class_names: ['malignant', 'benign'],
    },
    distillation_gain: {
      against: 'fedavg_public_labels',
      baseline_accuracy: 0.93,
      student_accuracy: 0.951,
      points: 2.1,
      meaning: 'held-out accuracy of the distilled student minus the strongest federated baseline',
    },
    baselines: {
      local_only: {
        mean: 0.889,
        best: 0.921,
        best_site: siteNames[0],
        auc: { mean: 0.944, best: 0.972 },
        per_site: siteNames.map((site, i) => ({
          site,
          rows: rows[i]!,
          accuracy: [0.921, 0.886, 0.86][i]!,
          auc: [0.972, 0.941, 0.919][i]!,
        })),
      },
      fedavg_no_teacher: { accuracy: 0.923, auc: 0.975, per_round: FEDAVG_ACCURACY },
      fedavg_public_labels: { accuracy: 0.93, auc: 0.979, per_round: FEDAVG_PUBLIC_ACCURACY },
      centralized: { accuracy: 0.956, auc: 0.99 },
      centralized_public_labels: { accuracy: 0.961, auc: 0.991 },
      teacher: {
        accuracy: 0.965,
        auc: 0.993,
        params: 10_562,
        latency_ms_per_example: { batch_1: 0.36, batch_256: 0.011 },
      },
      method: 'Same student, optimizer, seed and held-out split; local-only sites train alone.',
      wall_seconds: 6.2,
    },
  };
}

/**
 * The fixture as a scenario with an outside teacher makes it: the run imported the teacher's
 * logits on an unlabelled transfer set, so there is no agreement figure and no baseline with
 * public labels, but two with the teacher's own rows; the demo measured the teacher itself.
 */
export function unlabelledReportFixture(): DemoReport {
  const labelled = demoReportFixture();
  return {
    ...labelled,
    teacher_source: 'logits',
    teacher_accuracy: null,
    teacher_cached: false,
    teacher_params: null,
    teacher_logits_file: '/runs/demo/coordinator/imports/outside-teacher.bin',
    teacher_transfer_accuracy: null,
    scenario: {
      ...labelled.scenario,
      premise:
        'the teacher learned from 4,000 digit images outside the federation; the transfer set is unlabelled; distillation is expected to help',
    },
    distillation_gain: {
      ...labelled.distillation_gain,
      against: 'fedavg_no_teacher',
      baseline_accuracy: 0.923,
      points: 2.8,
    },
    baselines: {
      ...labelled.baselines,
      fedavg_public_labels: null,
      centralized_public_labels: null,
      fedavg_teacher_rows: {
        accuracy: 0.948,
        auc: 0.986,
        per_round: [0.861, 0.905, 0.926, 0.94, 0.948],
      },
      centralized_teacher_rows: { accuracy: 0.968, auc: 0.994 },
    },
  };
}
