import { fail, ok, type CoordinatorMessage, type Result } from '../../protocol/index.js';
import type { SiteChannel } from './site-channel.js';

interface SiteEntry {
  readonly channel: SiteChannel;
  ready: boolean;
}

/** The sites with a session in a run: who is connected, who holds the transfer set, on what. */
export class RunSites {
  private readonly entries = new Map<string, SiteEntry>();
  /** The backend each site said it trains on, kept after it leaves (the report lists them). */
  readonly backends: Record<string, string> = {};

  get size(): number {
    return this.entries.size;
  }

  /** A second session of a site already in the run is refused. */
  join(channel: SiteChannel): Result<true> {
    if (this.entries.has(channel.site)) {
      return fail('session.duplicate', `${channel.site} already has an open session`);
    }
    this.entries.set(channel.site, { channel, ready: false });
    return ok(true);
  }

  /** The session ended; false when it was not the site's current one. */
  leave(channel: SiteChannel): boolean {
    if (!this.holds(channel)) return false;
    this.entries.delete(channel.site);
    return true;
  }

  /** Whether this is the site's current session in the run. */
  holds(channel: SiteChannel): boolean {
    return this.entries.get(channel.site)?.channel === channel;
  }

  /** The site holds the transfer set and trains on `backend`; once per session. */
  ready(site: string, backend: string): Result<true> {
    const entry = this.entries.get(site)!;
    if (entry.ready) return fail('protocol.unexpected_message', 'the site was already ready');
    entry.ready = true;
    this.backends[site] = backend;
    return ok(true);
  }

  readyNames(): string[] {
    return [...this.entries.values()].filter((s) => s.ready).map((s) => s.channel.site);
  }

  send(site: string, message: CoordinatorMessage): void {
    this.entries.get(site)?.channel.send(message);
  }

  channels(): SiteChannel[] {
    return [...this.entries.values()].map((s) => s.channel);
  }

  /** For the API: each connected site, whether it is ready, and its backend. */
  rows(): { site: string; ready: boolean; backend?: string }[] {
    return [...this.entries.values()].map(({ channel, ready }) => ({
      site: channel.site,
      ready,
      ...(this.backends[channel.site] ? { backend: this.backends[channel.site] } : {}),
    }));
  }
}
