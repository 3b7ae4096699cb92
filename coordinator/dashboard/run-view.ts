import {
  isTerminalRunState,
  transition,
  type RoundPoint,
  type RunControls,
  type RunHeader,
  type RunListItem,
  type RunSnapshot,
  type RunState,
  type SiteRow,
  type TimelineEntry,
} from '../../protocol/index.js';
import type { RoundSummary } from '../runs/run-report.js';
import type { RunStatus } from '../runs/runs.service.js';
import type { RoundAttemptRecord, SiteRecord } from '../store/store.js';

/** Everything a run's view is built from: the store's records and the live run's status. */
export interface RunViewSources {
  readonly status: RunStatus;
  readonly dataset: string;
  readonly closedRounds: readonly RoundSummary[];
  readonly attempts: readonly RoundAttemptRecord[];
  readonly registry: readonly SiteRecord[];
  readonly lastRounds: ReadonlyMap<string, number>;
  /** Protocol bytes per site since the coordinator started. */
  readonly bytes: ReadonlyMap<string, { up: number; down: number }>;
  /** The backend each site last reported, in this or an earlier look. */
  readonly backends: ReadonlyMap<string, string>;
}

/** What the state machine lets an operator do now; the API checks again on the call. */
export function runControls(state: RunState): RunControls {
  return {
    pause: transition(state, 'paused').ok,
    resume: state === 'paused',
    cancel: transition(state, 'cancelled').ok,
  };
}

export function runListItem(
  status: RunStatus,
  dataset: string,
  last: RoundSummary | undefined,
): RunListItem {
  const state = status.state;
  return {
    id: status.id,
    state,
    active: state !== 'created' && !isTerminalRunState(state),
    dataset,
    rounds: status.spec.rounds,
    roundsClosed: status.roundsClosed,
    createdAt: status.createdAt,
    updatedAt: status.updatedAt,
    ...(last ? { accuracy: last.student_accuracy } : {}),
  };
}

export function roundPoint(summary: RoundSummary): RoundPoint {
  return {
    round: summary.round,
    accuracy: summary.student_accuracy,
    loss: summary.student_loss,
    temperature: summary.temperature,
    alpha: summary.alpha,
    sparsity: summary.sparsity,
    bytesUp: summary.bytes_up,
    bytesDown: summary.bytes_down,
    durationSeconds: summary.duration_seconds,
    ...(summary.epsilon === undefined ? {} : { epsilon: summary.epsilon }),
  };
}

/** A stored attempt on the timeline; the active run's open attempt with its live counts. */
function timelineEntry(record: RoundAttemptRecord, status: RunStatus): TimelineEntry {
  const base = {
    round: record.round,
    attempt: record.attempt + 1,
    selected: record.participants,
    openedAt: record.openedAt,
    ...(record.closedAt ? { closedAt: record.closedAt } : {}),
  };
  const outcome = record.summary;
  if (record.state !== 'open') {
    return {
      ...base,
      state: record.state,
      answered:
        outcome && 'student_accuracy' in outcome ? outcome.participants : (outcome?.answered ?? 0),
      stragglers: outcome?.stragglers ?? 0,
      dropped: outcome?.dropped ?? 0,
    };
  }
  const live = status.live;
  const current = live && live.round === record.round && live.attempt === record.attempt + 1;
  if (!current) {
    // Open in the store but not the active run's attempt: the run was cancelled, or stopped.
    return { ...base, state: 'abandoned', answered: 0, stragglers: 0, dropped: 0 };
  }
  return {
    ...base,
    state: 'open',
    answered: live.answered.length,
    stragglers: 0,
    dropped: record.participants - live.participants.length,
  };
}

function siteRow(site: SiteRecord, sources: RunViewSources): SiteRow {
  const live = sources.status.live;
  const session = live?.sites.find((s) => s.site === site.name);
  const bytes = sources.bytes.get(site.name) ?? { up: 0, down: 0 };
  const backend = session?.backend ?? sources.backends.get(site.name);
  const lastRound = sources.lastRounds.get(site.name);
  let state: SiteRow['state'] = 'offline';
  if (session && live) {
    if (live.answered.includes(site.name)) state = 'answered';
    else if (live.participants.includes(site.name)) state = 'training';
    else state = session.ready ? 'ready' : 'joining';
  }
  return {
    site: site.name,
    enrolment: site.state,
    connected: session !== undefined,
    state,
    ...(backend ? { backend } : {}),
    ...(lastRound === undefined ? {} : { lastRound }),
    bytesUp: bytes.up,
    bytesDown: bytes.down,
  };
}

/** The whole view of one run, from its sources. */
export function buildRunView(sources: RunViewSources): RunSnapshot {
  const { status, closedRounds, attempts, registry } = sources;
  const live = status.live;
  const last = closedRounds[closedRounds.length - 1];
  // Once the last round closes, the live state already counts the round after it.
  const current = live && live.round <= status.spec.rounds ? live : undefined;
  const run: RunHeader = {
    ...runListItem(status, sources.dataset, last),
    round: current?.round ?? Math.min(status.roundsClosed + 1, status.spec.rounds),
    attempt: current?.attempt ?? 1,
    modelVersion: status.modelVersion,
    aggregation: status.spec.aggregation.strategy,
    minSites: status.spec.minSites,
    sitesConnected: live?.sites.length ?? 0,
    sitesEnrolled: registry.filter((s) => s.state === 'enrolled').length,
    controls: runControls(status.state),
  };
  return {
    run,
    points: closedRounds.map(roundPoint),
    timeline: attempts.map((record) => timelineEntry(record, status)),
    sites: registry.map((site) => siteRow(site, sources)),
  };
}

/** What a subscriber who has `before` lacks of `after`: new points, changed entries and rows. */
export function diffRunView(
  before: RunSnapshot,
  after: RunSnapshot,
):
  | { run: RunHeader; points: RoundPoint[]; timeline: TimelineEntry[]; sites: SiteRow[] }
  | undefined {
  const changed = <T>(old: readonly T[], now: readonly T[], key: (item: T) => string): T[] => {
    const seen = new Map(old.map((item) => [key(item), JSON.stringify(item)]));
    return now.filter((item) => seen.get(key(item)) !== JSON.stringify(item));
  };
  const points = after.points.slice(before.points.length);
  const timeline = changed(before.timeline, after.timeline, (e) => `${e.round}:${e.attempt}`);
  const sites = changed(before.sites, after.sites, (s) => s.site);
  const header = JSON.stringify(before.run) !== JSON.stringify(after.run);
  if (!header && !points.length && !timeline.length && !sites.length) return undefined;
  return { run: after.run, points, timeline, sites };
}
