/**
 * Where the operator feed lives and what its events are called. Plain constants that import
 * nothing, so the browser loads them without zod; the shapes sent on these events are the
 * schemas in operator-feed.ts.
 */

/** The socket.io namespace of the live feed; its handshake carries `auth: { token }`. */
export const OPERATOR_NAMESPACE = '/operator';

/**
 * The query the feed's websocket URL carries, which no site's does: an edge coordinator node
 * forwards the websockets that have it to the leader (coordinator/nodes/leader-forward.ts).
 */
export const OPERATOR_FEED_QUERY = { feed: 'operator' } as const;

/** Event names on that namespace. */
export const FEED_EVENTS = {
  /** Server to browser, once after the handshake: who the token belongs to (FeedHello). */
  hello: 'hello',
  /** Server to browser: every run (RunListItem[]), newest first; on connect and on any change. */
  runs: 'runs',
  /** Browser to server: watch this run (`subscribe(runId, ack)`); the ack is a FeedAck. */
  subscribe: 'subscribe',
  /** Server to browser: the whole view of the watched run (RunSnapshot), once per subscribe. */
  snapshot: 'run.snapshot',
  /** Server to browser: what changed in the watched run since the last snapshot or delta. */
  delta: 'run.delta',
} as const;
