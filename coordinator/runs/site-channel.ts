import type { CoordinatorMessage, ErrorCode } from '../../protocol/index.js';

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
  /** Calls `closed` when the session ends, however it ends. */
  onClose(closed: () => void): void;
}
