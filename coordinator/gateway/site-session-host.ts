import type { Result, RunWelcome, SiteMessage } from '../../protocol/index.js';
import type { SiteChannel } from '../runs/site-channel.js';

/**
 * What an authenticated site session is handed to: the runs on the leader, or, on an edge
 * node, the relay that forwards it to the leader (coordinator/nodes/).
 */
export abstract class SiteSessionHost {
  /** The welcome to send now, or undefined when it comes later (no run yet, or relayed). */
  abstract siteJoined(channel: SiteChannel): Result<RunWelcome | undefined>;
  /** Applies one validated message; an error ends that session and nothing else. */
  abstract handle(channel: SiteChannel, message: SiteMessage): Result<true>;
  abstract siteLeft(channel: SiteChannel): void;
}
