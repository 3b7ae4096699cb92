import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { ErrorCode, SignedTreeHead, SiteMessage } from '../../protocol/index.js';
import type { RoundSummary, RunReport } from '../runs/run-report.js';

/** One protocol event as the coordinator saw it: who, what, outcome, size. Never payload values. */
export interface ProtocolEvent {
  readonly at: string;
  /** The site's enrolled name once authenticated, else the socket id. */
  readonly peer: string;
  /** Whether the peer had completed the handshake (its refusals are sampled, not logged, if not). */
  readonly authenticated: boolean;
  readonly direction: 'in' | 'out';
  /** A handshake step, or the application message type. */
  readonly kind: string;
  readonly outcome: 'ok' | 'refused';
  readonly code?: ErrorCode;
  readonly bytes: number;
}

/**
 * Traffic refused before its sender proved who it is: a connection over a cap, a handshake over
 * its rate or failed, an API request without a usable token or over its rate. Counted each in
 * /metrics; sampled into the audit log.
 */
export interface UnauthenticatedRefusal {
  readonly kind: 'connection' | 'handshake' | 'api';
  readonly code: string;
}

/** A site's session joined or left the run. */
export interface SitePresence {
  readonly site: string;
  readonly present: boolean;
  /** Sites in the run after this change. */
  readonly connected: number;
}

/** The allow-list in force changed. */
export interface AllowListChange {
  readonly enrolled: number;
  readonly revoked: number;
}

/** A validated message from an authenticated site, for in-process observers; never stored. */
export interface SiteMessageEvent {
  readonly site: string;
  readonly message: SiteMessage;
}

/** A round closed with fewer updates than the quorum: nothing applied, the round is retried. */
export interface RoundFailure {
  readonly round: number;
  readonly attempt: number;
  readonly updates: number;
  readonly quorum: number;
}

interface EventMap {
  protocol: [ProtocolEvent];
  roundFailed: [RoundFailure];
  siteMessage: [SiteMessageEvent];
  allowList: [AllowListChange];
  /** An edited allow-list file did not parse; the list in force stays. The reason. */
  allowListRejected: [string];
  site: [SitePresence];
  round: [RoundSummary];
  /**
   * The run's last round closed (or the budget ends it): AuditService logs run.completed and
   * signs a head over it, which reaches the sites before their final frame. A listener whose
   * work must be done by then hands its promise to `hold`; the run waits for every one.
   */
  ending: [{ readonly run: string; readonly rounds: number; hold(work: Promise<unknown>): void }];
  complete: [RunReport];
  /** Something the audit log records (AuditService appends it). */
  audit: [AuditEvent];
  unauthenticatedRefusal: [UnauthenticatedRefusal];
  /** A signed head of the audit log, for every connected site. */
  treeHead: [SignedTreeHead];
  /** A dashboard session logged out: its live feed closes. The token id. */
  tokenRevoked: [string];
}

/**
 * An audit log event: what happened (`event`), to what (run, round, site code, hashes, sizes,
 * codes). Never data values, labels, logits, weights, deltas, per-site metrics, example counts
 * or IP addresses.
 */
export interface AuditEvent {
  readonly event: string;
  readonly [field: string]: string | number | boolean | null | undefined;
}

/**
 * What the coordinator tells its observers (the CLI's progress, tests, later the dashboard and
 * the audit log). Emitting is synchronous and never throws into the protocol path.
 */
@Injectable()
export class CoordinatorEvents extends EventEmitter<EventMap> {
  bytesIn = 0;
  bytesOut = 0;

  protocol(event: Omit<ProtocolEvent, 'at'>): void {
    if (event.direction === 'in') this.bytesIn += event.bytes;
    else this.bytesOut += event.bytes;
    this.emit('protocol', { at: new Date().toISOString(), ...event });
  }
}
