/**
 * The closed list of failure codes. A peer is told only the code (as the close reason); the
 * message and path are for the local log. The code type is derived from this list so that the
 * list and its users cannot drift apart.
 */
export const ERROR_CODES = [
  'handshake.malformed',
  'handshake.version_mismatch',
  'handshake.unexpected_step',
  'handshake.bad_ephemeral',
  'handshake.decrypt_failed',
  'handshake.bad_server_identity',
  'handshake.unknown_site',
  'site.revoked',
  'handshake.bad_signature',
  'handshake.bad_mac',
  'handshake.timeout',
  'handshake.rate_limited',
  'frame.malformed',
  'frame.too_large',
  'frame.replay',
  'frame.out_of_order',
  'frame.auth_failed',
  'frame.after_final',
  'frame.final_mismatch',
  'frame.truncated',
  'schema.malformed',
  'schema.unknown_type',
  'schema.too_large',
  'schema.invalid',
  'protocol.unexpected_message',
  'blob.unknown',
  'blob.bad_range',
  'blob.unrequested',
  'blob.hash_mismatch',
  'blob.too_large',
  'flow.overrun',
  'update.stale_round',
  'update.not_participant',
  'update.duplicate',
  'update.count_over_cap',
  'update.shape_mismatch',
  'update.non_finite',
  'update.withheld',
  'codec.out_of_range',
  'session.duplicate',
  'session.closed',
  'run.cancelled',
  'run.illegal_transition',
  'run.unknown',
  'config.invalid',
  'data.invalid',
  'file.outside_folder',
  'file.not_regular',
  'file.too_large',
  'file.unreadable',
  'backend.unavailable',
  'site.limits_exceeded',
  'site.noise_below_floor',
  'site.budget_exhausted',
  'store.unavailable',
  'store.fenced',
  'json.unencodable',
  'audit.malformed',
  'audit.bad_range',
  'audit.bad_proof',
  'audit.bad_signature',
  'audit.head_order',
  'audit.bad_sequence',
  'audit.root_mismatch',
  'audit.truncated',
  'secagg.bad_parameters',
  'secagg.unexpected_step',
  'secagg.unknown_site',
  'secagg.bad_key',
  'secagg.bad_signature',
  'secagg.bad_share',
  'secagg.share_rejected',
  'secagg.duplicate',
  'secagg.shape_mismatch',
  'secagg.bad_request',
  'secagg.refused',
  'secagg.insufficient_shares',
  'secagg.commitment_mismatch',
  'secagg.inconsistent',
  'secagg.insufficient_signatures',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FedistillIssue {
  readonly code: ErrorCode;
  readonly message: string;
  /** Where in the input the problem is, as a key path (zod style). */
  readonly path?: readonly (string | number)[];
}

export type Result<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: FedistillIssue };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(
  code: ErrorCode,
  message: string,
  path?: readonly (string | number)[],
): Result<T> {
  return { ok: false, error: path === undefined ? { code, message } : { code, message, path } };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Thrown only where there is no caller left to return a Result to (a CLI, a startup step). */
export class FedistillError extends Error {
  readonly code: ErrorCode;
  readonly path?: readonly (string | number)[];

  constructor(issue: FedistillIssue) {
    super(`${issue.code}: ${issue.message}`);
    this.name = 'FedistillError';
    this.code = issue.code;
    if (issue.path !== undefined) this.path = issue.path;
  }
}

/** Unwraps a Result at a boundary where failure must stop the program. */
export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new FedistillError(result.error);
  return result.value;
}
