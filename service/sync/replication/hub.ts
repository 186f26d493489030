import type { ReplicationMetrics } from '../../../shared/sync/replication.js';
import type { Logger } from '../../logger.js';
import type { PeerChannel } from '../channel.js';
import { startReplication, type ReplicationDeps, type ReplicationSession } from './session.js';

/**
 * The replication sessions of this site, one per linked peer: the link layer hands each new
 * PeerChannel here, and a session lives as long as its link (the next link resumes from the
 * peer's hello). The sites list reads each peer's lag from here.
 */
export class ReplicationHub {
  private readonly sessions = new Map<string, ReplicationSession>();
  private readonly sessionListeners = new Set<(session: ReplicationSession) => void>();

  constructor(private readonly deps: Omit<ReplicationDeps, 'logger'> & { logger: Logger }) {}

  /** Starts replicating over a new link; a session left from an older link of the peer is stopped first. */
  attach(channel: PeerChannel): void {
    const previous = this.sessions.get(channel.peerId);
    if (previous) void previous.stop();
    const session = startReplication(channel, { ...this.deps, logger: this.deps.logger.child({ peer: channel.peerId }) });
    this.sessions.set(channel.peerId, session);
    for (const l of this.sessionListeners) l(session);
    channel.onClose(() => {
      if (this.sessions.get(channel.peerId) === session) this.sessions.delete(channel.peerId);
      void session.stop();
    });
  }

  /** The session running with a peer now, if any. */
  session(peerId: string): ReplicationSession | undefined {
    return this.sessions.get(peerId);
  }

  /** Called with each session that starts (Active-Passive follows when this site is synced with the peer). */
  onSession(listener: (session: ReplicationSession) => void): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  metrics(peerId: string): ReplicationMetrics | undefined {
    return this.sessions.get(peerId)?.metrics;
  }

  /**
   * Ends the session of a peer and waits for it, so its last checkpoint is written before the
   * caller forgets the peer (an unpaired peer must not hold entries back afterwards).
   */
  async detach(peerId: string): Promise<void> {
    const session = this.sessions.get(peerId);
    this.sessions.delete(peerId);
    await session?.stop();
  }

  async stop(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.stop()));
  }
}
