import type { FeatureTable, LabelledTable, TeacherKnowledge } from '../../protocol/index.js';

/** The teacher's last hidden layer on the public inputs; width 0 when the run does not send it. */
export interface TeacherFeatures {
  readonly width: number;
  /** rows x width, row-major. */
  readonly values: Float32Array;
}

const NO_FEATURES: TeacherFeatures = { width: 0, values: new Float32Array(0) };

/**
 * What the sites receive of the teacher, whatever produced its logits. Transfer set: the public
 * inputs (raw) with the logits, and the hidden features when given. Class logits: the mean
 * logits over the public rows of each true class (a class with no row gets zeros).
 */
export function teacherKnowledge(
  input: {
    readonly classes: number;
    /** rows x classes on the public split. */
    readonly logits: Float32Array;
    readonly features?: TeacherFeatures | undefined;
  } & (
    | { readonly mode: 'transfer-set'; readonly publicSplit: FeatureTable }
    // The per-class means need each public row's label.
    | { readonly mode: 'class-logits'; readonly publicSplit: LabelledTable }
  ),
): TeacherKnowledge {
  const { classes, logits, features = NO_FEATURES } = input;
  if (input.mode === 'class-logits') {
    const { publicSplit } = input;
    const matrix = new Float32Array(classes * classes);
    const counts = new Array<number>(classes).fill(0);
    publicSplit.labels.forEach((label, row) => {
      counts[label]!++;
      for (let c = 0; c < classes; c++) matrix[label * classes + c]! += logits[row * classes + c]!;
    });
    matrix.forEach(
      (v, i) =>
        (matrix[i] =
          counts[Math.floor(i / classes)]! > 0 ? v / counts[Math.floor(i / classes)]! : 0),
    );
    return { mode: 'class-logits', classes, matrix };
  }
  const { publicSplit } = input;
  return {
    mode: 'transfer-set',
    rows: publicSplit.rows,
    features: publicSplit.features,
    classes,
    inputs: publicSplit.inputs,
    logits,
    hiddenWidth: features.width,
    hidden: features.values,
  };
}

/** The share of rows whose largest logit is at their label (ties go to the lowest class). */
export function labelAgreement(logits: Float32Array, labels: Int32Array, classes: number): number {
  let agree = 0;
  labels.forEach((label, row) => {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      if (logits[row * classes + c]! > logits[row * classes + best]!) best = c;
    }
    if (best === label) agree++;
  });
  return agree / labels.length;
}
