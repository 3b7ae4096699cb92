import type { CoordinatorMessage, ErrorCode } from '../../protocol/index.js';

/** An authenticated site session as the run sees it; the gateway owns the transport. */
export interface SiteChannel {
  readonly site: string;
  send(message: CoordinatorMessage): void;
  /** Ends the session, telling the site only the code; the detail goes to the log. */
  refuse(code: ErrorCode, detail: string): void;
}
