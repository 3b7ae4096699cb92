import type { RoundSummary } from '../coordinator/runs/run-report.js';
import type { TeacherSummary } from '../coordinator/teacher/prepared-teacher.js';

/** What a coordinator process started by the demo tells its parent over Node's IPC channel. */
export type CoordinatorIpcMessage =
  | {
      readonly type: 'listening';
      readonly url: string;
      /** The run started at boot; absent when runs come by the API. */
      readonly runId?: string;
      readonly teacher?: TeacherSummary;
    }
  /** Another node leads: this one serves sites for it until it takes the lead itself. */
  | { readonly type: 'edge'; readonly url: string }
  | { readonly type: 'round'; readonly summary: RoundSummary }
  /** The run completed and, with --serve, the coordinator stays up until stopped. */
  | { readonly type: 'serving' };
