import type * as tfl from '@tensorflow/tfjs-layers';
import type { TeacherDescriptor } from '../../protocol/index.js';

// Types the teacher service, the compression report and a run all use. They sit below all
// three so that teacher/ and compression/ never import runs/ (runs/ imports them).

/** Where the soft labels came from, and what could be measured of it. */
export type TeacherSource =
  | {
      readonly source: 'model';
      /** Held-out accuracy of the teacher model, and AUC for two classes. */
      readonly accuracy: number;
      readonly auc?: number;
      readonly params: number;
      /** True when the model was loaded from the on-disk cache instead of trained. */
      readonly cached: boolean;
    }
  | {
      /** Imported logits: there is no model to run on the held-out split. */
      readonly source: 'logits';
      readonly file: string;
    };

/** What the run's teacher was, as far as this process measured it. */
export type TeacherSummary = TeacherSource & {
  /**
   * Share of public-split rows whose largest teacher logit is at their label; null when the
   * public split is unlabelled.
   */
  readonly transferAccuracy: number | null;
  /** Content hash (hex) of the soft labels the sites receive. */
  readonly transferHash: string;
};

/** The teacher as prepared for a run: what sites are told, and its figures for the report. */
export interface PreparedTeacher {
  readonly descriptor: TeacherDescriptor;
  readonly summary: TeacherSummary;
  /** The teacher model again, for a teacher that is one (not imported logits). */
  readonly loadModel?: () => Promise<tfl.LayersModel>;
}
