import type { TeacherConfig } from './teacher-config.js';

/** A setting of a run that cannot work without the public split's labels, and why. */
export interface PublicLabelNeed {
  /** Where the setting is, from the run spec's root. */
  readonly path: readonly string[];
  readonly message: string;
}

const WITHOUT_LABELS = 'the public split is unlabelled (data.publicLabels false)';

/**
 * What in a run needs labels on the public split: a teacher model trains on them, and class
 * logits are per-class means over them. With an unlabelled transfer set only imported logits in
 * the transfer-set mode can run; every other choice is refused, naming its field, before the
 * run is created.
 */
export function publicLabelNeeds(run: {
  readonly teacher: TeacherConfig;
  readonly distillation: { readonly mode: 'transfer-set' | 'class-logits' };
}): PublicLabelNeed[] {
  return [
    ...(run.teacher.source === 'model'
      ? [
          {
            path: ['teacher', 'source'],
            message: `teacher.source "model" trains the teacher on the public split's labels, but ${WITHOUT_LABELS}; import the teacher's logits (source "logits")`,
          },
        ]
      : []),
    ...(run.distillation.mode === 'class-logits'
      ? [
          {
            path: ['distillation', 'mode'],
            message: `distillation.mode "class-logits" averages the teacher's logits per public label, but ${WITHOUT_LABELS}; use "transfer-set"`,
          },
        ]
      : []),
  ];
}
