import { ADOPTED_KINDS, JOIN_TOPIC, JoinMessage, SITES_TOPIC, SiteAboutMessage, type SupersededVersion } from '../../shared/sync/join.js';
import type { VersionedDoc } from '../storage/changelog/core/merge.js';
import type { ChangeLog } from '../storage/changelog/log.js';
import type { SinceVector } from '../storage/changelog/reader.js';
import { validator } from '../validation.js';
import type { PeerChannel, PeerMessage } from './channel.js';

const parseJoin = validator(JoinMessage);
const parseAbout = validator(SiteAboutMessage);
/** documents per `documents` message */
const CHUNK = 500;
/** how long the joining site waits for the donor's documents before it gives up on this link */
export const JOIN_TIMEOUT_MS = 30_000;

/** Listens to the messages of a topic that pass their schema; a malformed one ends the link (a peer speaking another protocol is a fault). */
function onValid<M>(channel: PeerChannel, topic: string, parser: { parse(value: unknown, what: string): M }, what: string, handle: (message: M) => void): () => void {
  return channel.onMessage(topic, (raw) => {
    let message: M;
    try {
      message = parser.parse(raw, what);
    } catch {
      channel.close(`malformed ${what}`);
      return;
    }
    handle(message);
  });
}

/** What the donor sent: the versions it holds of the adopted kinds, and its log's head when it read them. */
export interface DonorState {
  documents: VersionedDoc[];
  have: SinceVector;
}

/** Says who this site is (name, network interfaces) on a new link; the peer stores it for validation. */
export function sendAbout(channel: PeerChannel, about: { name: string; interfaces: readonly string[] }): void {
  channel.send({ topic: SITES_TOPIC, type: 'about', name: about.name.slice(0, 200), interfaces: [...about.interfaces].slice(0, 1024) }).catch(() => undefined);
}

/** Calls `heard` with each valid `about` of the peer; a malformed one ends the link. */
export function onAbout(channel: PeerChannel, heard: (about: { name: string; interfaces: string[] }) => void): () => void {
  return onValid(channel, SITES_TOPIC, parseAbout, 'sites message', (m) => heard({ name: m.name, interfaces: m.interfaces }));
}

/**
 * The donor's half, on every link to a site that joined this one: answers a `request` with the
 * documents of the adopted kinds, and when the joining site says it adopted them, tells the log
 * which of the joiner's own versions its adoption replaced (they are not to win here, not even
 * for a moment) and calls `ready` (then replication starts). A malformed message ends the link.
 */
export function answerJoins(channel: PeerChannel, log: ChangeLog, ready: () => void): () => void {
  return onValid(channel, JOIN_TOPIC, parseJoin, 'join message', (m) => {
    if (m.type === 'ready') {
      log.supersedeOwnVersions(channel.peerId, m.supersedes ?? []);
      ready();
    }
    else if (m.type === 'request') void sendDocuments(channel, log, m.id).catch(() => undefined);
  });
}

/** What a donor sends a joining site: its versions of the adopted kinds, and its head of the same moment (read together: every entry up to `have` is in them). */
export function donorState(log: ChangeLog): DonorState {
  const have = log.head();
  // with its base: the joining site then knows the donor's earlier versions, when they arrive, as ancestors (core/merge.ts conflictStep)
  const documents = ADOPTED_KINDS.flatMap((kind) => log.documents(kind)).map((d) => ({ kind: d.kind, key: d.key, hlc: d.hlc, origin: d.origin, tombstone: d.tombstone, body: d.body, ...(d.base !== undefined ? { base: d.base } : {}) }));
  return { documents, have };
}

async function sendDocuments(channel: PeerChannel, log: ChangeLog, id: number): Promise<void> {
  const { documents, have } = donorState(log);
  for (let i = 0; i < documents.length; i += CHUNK) await channel.send({ topic: JOIN_TOPIC, type: 'documents', id, documents: documents.slice(i, i + CHUNK) });
  await channel.send({ topic: JOIN_TOPIC, type: 'end', id, have });
}

/** The joining site's half: asks the donor for its documents and collects them; rejects if the link ends first or the donor is silent. */
export function requestJoin(channel: PeerChannel, timeoutMs = JOIN_TIMEOUT_MS): Promise<DonorState> {
  const id = 1 + Math.floor(Math.random() * 1_000_000);
  return new Promise<DonorState>((resolve, reject) => {
    const documents: VersionedDoc[] = [];
    const cleanup: (() => void)[] = [];
    const finish = (err: Error | undefined, state?: DonorState) => {
      for (const c of cleanup) c();
      if (err) reject(err);
      else resolve(state as DonorState);
    };
    const timer = setTimeout(() => finish(new Error(`the donor sent no documents within ${timeoutMs} ms`)), timeoutMs);
    cleanup.push(() => clearTimeout(timer));
    cleanup.push(
      channel.onMessage(JOIN_TOPIC, (raw: PeerMessage) => {
        let m: JoinMessage;
        try {
          m = parseJoin.parse(raw, 'join message');
        } catch (err) {
          channel.close('malformed join message');
          finish(err as Error);
          return;
        }
        if (m.type === 'documents' && m.id === id) for (const d of m.documents) documents.push(d as VersionedDoc);
        else if (m.type === 'end' && m.id === id) finish(undefined, { documents, have: m.have });
      }),
    );
    cleanup.push(channel.onClose((reason) => finish(new Error(`the link closed during the join: ${reason}`))));
    channel.send({ topic: JOIN_TOPIC, type: 'request', id }).catch((err: unknown) => finish(err as Error));
  });
}

/** The joining site says it adopted the installation's documents, and which of its own versions that replaced: the donor starts replicating. */
export function sendReady(channel: PeerChannel, supersedes: readonly SupersededVersion[]): Promise<void> {
  return channel.send({ topic: JOIN_TOPIC, type: 'ready', ...(supersedes.length ? { supersedes: [...supersedes] } : {}) });
}
