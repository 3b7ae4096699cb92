import type { BlobManifest, CoordinatorMessage, ErrorCode, Result } from '../../protocol/index.js';
import type { EdgeFolded } from './round/round-fold.js';

/** An authenticated site session as the run sees it; the gateway owns the transport. */
export interface SiteChannel {
  readonly site: string;
  send(message: CoordinatorMessage): void;
  /** Ends the session, telling the site only the code; the detail goes to the log. */
  refuse(code: ErrorCode, detail: string): void;
  /** True while frames already sent still wait in this process for the socket to take them. */
  backlogged(): boolean;
  /** Calls `resume` once the backlog has been handed to the socket. */
  onDrain(resume: () => void): void;
  /**
   * A blob the site offered that was already pulled on the way here (an edge node pulls its
   * sites' updates), or why that pull failed; taken once. Unverified: the caller checks the
   * bytes against the manifest.
   */
  prefetched?(manifest: BlobManifest): Result<Uint8Array> | undefined;
  /**
   * Where the update blob of `manifest` was folded already: an edge node pulled it, checked it,
   * added it to its partial sum for the attempt and staged its bytes in the store; taken once.
   */
  foldedAtEdge?(manifest: BlobManifest): EdgeFolded | undefined;
  /** Calls `closed` when the session ends, however it ends. */
  onClose(closed: () => void): void;
}
