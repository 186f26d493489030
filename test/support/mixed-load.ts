/**
 * The mixed write load of the change log crash test (issue 16) and what its clients know for sure
 * afterwards: configuration saves, API token creations and revocations, mailbox creations and
 * edits, voicemail deposits over HTTP, and call events over /api/v1/events/stream with acks, all at
 * once. `MixedLoad.round` runs it against a service until told to stop (the test kills the service
 * then); `MixedLoad.verify` checks, against the service started again on the same data directory,
 * that every acknowledged write is there and nothing is stored half. A request the kill cut may
 * have happened or not: the ledger keeps both outcomes possible until a check has seen which.
 */
import WebSocket from 'ws';
import type { CallEvent, StoredEvent } from '../../shared/api/events.js';
import { apiClient } from './api.js';
import { cs, vm } from './config-cases.js';
import { callLoad, inParallel, storedState, type CallLoad } from './crash-source.js';
import { makeWav, vmailClient } from './vmail.js';

export const DOMAIN = 'office.example';
/** The instances every configuration save keeps (a callstore and a vmail instance for the other writes), with a changing note. */
export const instancesOf = (note: number) => [cs(), vm({ ext: { note } })];

interface MailboxLedger {
  /** its creation was acknowledged (or a check has seen the mailbox) */
  exists: boolean;
  /** the names it may have: the last acknowledged, plus edits whose answer the kill cut */
  names: Set<string>;
  /** an edit is under way: edits of one mailbox run one at a time, so the last acknowledged one is the one in force */
  busy: boolean;
}

export interface LoadFigures {
  acked: number;
  cutByKill: number;
  byKind: Record<string, number>;
}

/** Answers that tell the kill cut the request (the connection went), not that the service refused it. */
function cutByKill(err: unknown): boolean {
  return err instanceof TypeError || (err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

export class MixedLoad {
  // --- configuration: per revision, the instances a save may have written at it
  private readonly configTried = new Map<number, string[]>();
  private configAcked = 0;
  private note = 0;
  // --- tokens: id → secret
  readonly tokenSecrets = new Map<string, string>();
  private readonly tokenLive = new Set<string>();
  private readonly revokeTried = new Set<string>();
  private readonly revokeAcked = new Set<string>();
  // --- mailboxes and messages
  private readonly mailboxes = new Map<string, MailboxLedger>();
  private nextMailbox = 0;
  /** acknowledged deposits: message id → mailbox and audio size */
  private readonly messages = new Map<string, { box: string; bytes: number }>();
  // --- call events
  readonly calls: CallLoad;
  /** messages acknowledged: a prefix of calls.messages */
  private eventsAcked = 0;
  /** event messages the lane may send: HTTP acks grant them, so events flow as long as the rest does */
  private credits = 4;
  private wakeLane: (() => void) | undefined;

  readonly figures: LoadFigures = { acked: 0, cutByKill: 0, byKind: {} };

  private readonly clients: number;

  constructor(
    private readonly random: () => number,
    opts: { clients: number; calls: number },
  ) {
    this.clients = opts.clients;
    this.calls = callLoad({ source: 'pbx-mix', calls: opts.calls, concurrent: 20, batch: 10, t0: Date.now() - 2 * 3600_000, straggleEvery: 10 });
  }

  /** The first configuration (the roles the other writes need) and the token of the event source. */
  async setUp(url: string, adminToken: string): Promise<string> {
    const api = apiClient(url, adminToken);
    const current = await api.get('/api/v1/config/roles');
    const instances = instancesOf(this.note++);
    const saved = await api.put('/api/v1/config/roles', { revision: current.body.revision, instances });
    if (saved.status !== 200) throw new Error(`config: ${saved.status} ${saved.text}`);
    this.configTried.set(saved.body.revision as number, [JSON.stringify(instances)]);
    this.configAcked = saved.body.revision as number;
    const events = await api.post('/api/v1/tokens', { name: 'pbx-mix', scopes: ['events'] });
    if (events.status !== 201) throw new Error(`events token: ${events.status} ${events.text}`);
    return events.body.token as string;
  }

  private count(kind: string): void {
    this.figures.acked++;
    this.figures.byKind[kind] = (this.figures.byKind[kind] ?? 0) + 1;
    this.credits += 3;
    this.wakeLane?.();
  }

  /** Runs the load until `stop()`; resolves once every client has seen its last answer or its cut. */
  async round(url: string, adminToken: string, eventsToken: string, stop: () => boolean): Promise<void> {
    const api = apiClient(url, adminToken);
    const vmail = vmailClient(url, adminToken, DOMAIN);
    const worker = async () => {
      while (!stop()) {
        try {
          await this.oneWrite(api, vmail);
        } catch (err) {
          if (!stop() && !cutByKill(err)) throw err;
          this.figures.cutByKill++;
          return;
        }
      }
    };
    // Once the clients are done (stop() is true), an idle lane is woken to see it too.
    const clients = Promise.all(Array.from({ length: this.clients }, worker)).finally(() => this.wakeLane?.());
    await Promise.all([clients, this.eventLane(url, eventsToken, stop)]);
  }

  private async oneWrite(api: ReturnType<typeof apiClient>, vmail: ReturnType<typeof vmailClient>): Promise<void> {
    const dice = this.random();
    if (dice < 0.2) {
      const res = await api.post('/api/v1/tokens', { name: `t${this.figures.acked}`, scopes: ['read'] });
      if (res.status !== 201) throw new Error(`token create: ${res.status} ${res.text}`);
      this.tokenSecrets.set(res.body.id as string, res.body.token as string);
      this.tokenLive.add(res.body.id as string);
      this.count('tokenCreate');
    } else if (dice < 0.3) {
      const live = [...this.tokenLive].filter((id) => !this.revokeTried.has(id));
      const id = live[Math.floor(this.random() * live.length)];
      if (id === undefined) return;
      this.revokeTried.add(id);
      const res = await api.delete(`/api/v1/tokens/${id}`);
      if (res.status !== 204) throw new Error(`token revoke: ${res.status} ${res.text}`);
      this.revokeAcked.add(id);
      this.tokenLive.delete(id);
      this.count('tokenRevoke');
    } else if (dice < 0.45) {
      const current = await api.get('/api/v1/config/roles');
      if (current.status !== 200) throw new Error(`config read: ${current.status} ${current.text}`);
      const instances = instancesOf(this.note++);
      const next = (current.body.revision as number) + 1;
      this.configTried.set(next, [...(this.configTried.get(next) ?? []), JSON.stringify(instances)]);
      const res = await api.put('/api/v1/config/roles', { revision: current.body.revision, instances });
      if (res.status === 409) return; // another client saved in between: a refusal, not a write
      if (res.status !== 200) throw new Error(`config: ${res.status} ${res.text}`);
      if (res.body.revision !== next) throw new Error(`config: saved as revision ${res.body.revision}, not ${next}`);
      this.configTried.set(next, [JSON.stringify(instances)]);
      this.configAcked = Math.max(this.configAcked, next);
      this.count('configSave');
    } else if (dice < 0.55) {
      const number = String(3000 + this.nextMailbox++);
      const name = `box ${number}`;
      this.mailboxes.set(number, { exists: false, names: new Set([name]), busy: true });
      const res = await vmail.createMailbox({ number, name, maxMessages: 5000 });
      if (res.status !== 201) throw new Error(`mailbox create: ${res.status} ${JSON.stringify(res.body)}`);
      const box = this.mailboxes.get(number) as MailboxLedger;
      box.exists = true;
      box.busy = false;
      this.count('mailboxCreate');
    } else if (dice < 0.7) {
      const free = [...this.mailboxes].filter(([, b]) => b.exists && !b.busy);
      const picked = free[Math.floor(this.random() * free.length)];
      if (!picked) return;
      const [number, box] = picked;
      const name = `box ${number} edit ${this.figures.acked}`;
      box.busy = true;
      box.names.add(name);
      const res = await vmail.json('PATCH', `/${number}`, { name });
      if (res.status !== 200) throw new Error(`mailbox edit: ${res.status} ${JSON.stringify(res.body)}`);
      box.names = new Set([name]);
      box.busy = false;
      this.count('mailboxEdit');
    } else {
      const boxes = [...this.mailboxes].filter(([, b]) => b.exists).map(([n]) => n);
      const number = boxes[Math.floor(this.random() * boxes.length)];
      if (number === undefined) return;
      const wav = makeWav(0.1 + this.random() * 0.3);
      const res = await vmail.deposit(number, wav, { callerNumber: `55${this.figures.acked}` });
      if (res.status !== 201) throw new Error(`deposit: ${res.status} ${JSON.stringify(res.body)}`);
      this.messages.set(res.body.id as string, { box: number, bytes: wav.length });
      this.count('deposit');
    }
  }

  /**
   * A source on the event stream: one message at a time, each sent once the previous one is
   * acknowledged and the HTTP clients have granted a credit; after a restart it sends again from
   * the first message not acknowledged (acks come in order).
   */
  private eventLane(url: string, token: string, stop: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } });
      let waiting = false;
      const sendNext = () => {
        if (waiting || ws.readyState !== ws.OPEN) return;
        if (stop()) {
          ws.close();
          return;
        }
        if (this.eventsAcked >= this.calls.messages.length || this.credits <= 0) {
          // the whole load is sent, or the HTTP clients have not granted the next message yet
          this.wakeLane = () => {
            this.wakeLane = undefined;
            sendNext();
          };
          return;
        }
        this.credits--;
        waiting = true;
        ws.send(JSON.stringify(this.calls.messages[this.eventsAcked]));
      };
      ws.on('open', sendNext);
      ws.on('message', (data) => {
        const reply = JSON.parse(data.toString()) as { ack?: number | null; error?: unknown; rejected?: unknown; type?: string };
        if (reply.type) return; // a sync request: this source keeps no dialog list
        if (reply.error || typeof reply.ack !== 'number' || reply.rejected) {
          reject(new Error(`event message ${this.eventsAcked}: ${JSON.stringify(reply)}`));
          ws.close();
          return;
        }
        waiting = false;
        this.eventsAcked++;
        this.figures.byKind['eventMessage'] = (this.figures.byKind['eventMessage'] ?? 0) + 1;
        sendNext();
      });
      ws.on('error', (err) => {
        if (!stop()) reject(err);
      });
      ws.on('close', () => {
        this.wakeLane = undefined;
        if (waiting) this.figures.cutByKill++;
        if (!stop() && this.eventsAcked < this.calls.messages.length) reject(new Error('the event stream closed while the service was up'));
        else resolve();
      });
    });
  }

  /** The events acknowledged so far. */
  ackedEvents(): CallEvent[] {
    return this.calls.messages.slice(0, this.eventsAcked).flat();
  }

  /**
   * What a restarted service must hold: every acknowledged write, nothing stored half. Returns the
   * problems found (empty: all there); afterwards what the kill left undecided is decided by what
   * the service holds.
   */
  async verify(url: string, adminToken: string, timeoutMs = 20_000): Promise<string[]> {
    const problems: string[] = [];
    const api = apiClient(url, adminToken);

    // configuration: at least the last acknowledged revision, holding what a save at it sent
    const config = await api.get('/api/v1/config/roles');
    const revision = config.body.revision as number;
    if (revision < this.configAcked) problems.push(`config: revision ${revision} served, ${this.configAcked} was acknowledged`);
    const candidates = this.configTried.get(revision) ?? [];
    const served = JSON.stringify(config.body.instances);
    if (!candidates.includes(served)) problems.push(`config: revision ${revision} holds instances no save sent at it: ${served}`);
    else {
      this.configTried.set(revision, [served]);
      this.configAcked = revision;
    }

    // tokens: a created one is listed and authenticates, a revoked one is not and answers 401
    const listed = new Set(((await api.get('/api/v1/tokens')).body.items as { id: string }[]).map((t) => t.id));
    await inParallel([...this.tokenSecrets], 6, async ([id, secret]) => {
      const me = await apiClient(url, secret).get('/api/v1/auth/me');
      const revokedSurely = this.revokeAcked.has(id);
      const liveSurely = !this.revokeTried.has(id);
      if (liveSurely && (!listed.has(id) || me.status !== 200)) problems.push(`token ${id}: acknowledged created, but listed ${listed.has(id)}, authenticates ${me.status}`);
      if (revokedSurely && (listed.has(id) || me.status !== 401)) problems.push(`token ${id}: acknowledged revoked, but listed ${listed.has(id)}, authenticates ${me.status}`);
      if (listed.has(id) !== (me.status === 200)) problems.push(`token ${id}: listed ${listed.has(id)} but authenticates ${me.status} (stored half)`);
      if (!liveSurely && !revokedSurely) {
        // the revoke was cut: now it is decided
        if (me.status === 401) this.revokeAcked.add(id);
        else this.revokeTried.delete(id);
      }
      if (me.status === 401) this.tokenLive.delete(id);
      else this.tokenLive.add(id);
    });

    // mailboxes: every acknowledged one, with a name it may have
    const boxes = new Map(((await vmailClient(url, adminToken, DOMAIN).json('GET', '')).body.items as { number: string; name: string }[]).map((b) => [b.number, b]));
    for (const [number, ledger] of this.mailboxes) {
      const box = boxes.get(number);
      if (!box) {
        if (ledger.exists) problems.push(`mailbox ${number}: acknowledged created, not served`);
        else this.mailboxes.delete(number); // its creation was cut and did not happen
        continue;
      }
      if (!ledger.names.has(box.name)) problems.push(`mailbox ${number}: named ${JSON.stringify(box.name)}, not one of ${JSON.stringify([...ledger.names])}`);
      ledger.exists = true;
      ledger.busy = false;
      ledger.names = new Set([box.name]);
    }
    for (const number of boxes.keys()) if (!this.mailboxes.has(number)) problems.push(`mailbox ${number}: served, never created`);

    // messages: every acknowledged deposit listed with its audio; none listed without it
    const vmail = vmailClient(url, adminToken, DOMAIN);
    const listedMessages = new Map<string, { box: string; audioMissing: boolean }>();
    await inParallel([...boxes.keys()], 4, async (number) => {
      for (let offset = 0; ; offset += 500) {
        const page = await vmail.list(number, `?folder=inbox&limit=500&offset=${offset}`);
        if (page.status !== 200) throw new Error(`messages of ${number}: ${page.status}`);
        for (const m of page.body.items as { id: string; audioMissing: boolean }[]) listedMessages.set(m.id, { box: number, audioMissing: m.audioMissing });
        if (offset + 500 >= (page.body.total as number)) break;
      }
    });
    for (const [id, { box }] of this.messages) {
      const m = listedMessages.get(id);
      if (!m) problems.push(`message ${id} in ${box}: acknowledged deposited, not listed`);
      else if (m.box !== box) problems.push(`message ${id}: deposited in ${box}, listed in ${m.box}`);
    }
    await inParallel([...listedMessages], 6, async ([id, m]) => {
      const audio = await vmail.audio(m.box, id);
      const want = this.messages.get(id)?.bytes;
      if (m.audioMissing || audio.status !== 200) problems.push(`message ${id} in ${m.box}: listed, but its audio ${m.audioMissing ? 'is marked missing' : `answers ${audio.status}`} (stored half)`);
      else if (want !== undefined && audio.bytes.length !== want) problems.push(`message ${id}: audio of ${audio.bytes.length} bytes, ${want} were deposited`);
      if (want === undefined) this.messages.set(id, { box: m.box, bytes: audio.bytes.length }); // a cut deposit that happened
    });
    const quarantine = await vmail.json('GET', `${url}/api/v1/domains/${DOMAIN}/quarantine`);
    if ((quarantine.body?.missingAudio ?? []).length) problems.push(`vmail: metadata without audio: ${JSON.stringify(quarantine.body.missingAudio.map((m: { id: string }) => m.id))}`);

    // call events and records: polled, because a restarted callstore finishes its replay on its own time
    problems.push(...(await this.verifyCalls(url, adminToken, timeoutMs)));
    return problems;
  }

  private async verifyCalls(url: string, token: string, timeoutMs: number): Promise<string[]> {
    const api = apiClient(url, token);
    const acked = this.ackedEvents();
    const ackedIds = new Set(acked.map((e) => e.id));
    const sentIds = new Set(this.calls.messages.flat().map((e) => e.id));
    const owed = [...new Set(acked.filter((e) => e.type === 'end').map((e) => e.callId))];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const problems: string[] = [];
      const state = await storedState(url, token);
      const have = new Set([...state.cdrEvents.values(), ...state.activeEvents.values()].flat());
      const recorded = new Set(state.cdrIds);
      // a straggler that came after the record is in the journal, not in the record
      const lookUp = [...new Set(acked.filter((e) => !have.has(e.id) && recorded.has(e.callId)).map((e) => e.callId))];
      await inParallel(lookUp, 6, async (callId) => {
        for (const e of (await api.get<{ items: StoredEvent[] }>(`/api/v1/cdrs/${callId}/events`)).body.items ?? []) have.add(e.id);
      });
      const missing = [...ackedIds].filter((id) => !have.has(id));
      if (missing.length) problems.push(`call events: ${missing.length} acknowledged, not stored (${missing.slice(0, 5).join(', ')}…)`);
      const unrecorded = owed.filter((id) => !recorded.has(id));
      if (unrecorded.length) problems.push(`call records: ${unrecorded.length} calls whose end was acknowledged have none (${unrecorded.slice(0, 5).join(', ')}…)`);
      const duplicates = state.cdrIds.filter((id, i) => state.cdrIds.indexOf(id) !== i);
      if (duplicates.length) problems.push(`call records: written twice: ${duplicates.slice(0, 5).join(', ')}`);
      const foreign = [...have].filter((id) => !sentIds.has(id));
      if (foreign.length) problems.push(`call events: stored but never sent: ${foreign.slice(0, 5).join(', ')}`);
      if (problems.length === 0 || Date.now() > deadline) return problems;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Numbers for the test's summary line. */
  summary(): Record<string, unknown> {
    return {
      ...this.figures,
      configRevision: this.configAcked,
      tokens: this.tokenSecrets.size,
      revoked: this.revokeAcked.size,
      mailboxes: [...this.mailboxes.values()].filter((b) => b.exists).length,
      messages: this.messages.size,
      eventMessagesAcked: this.eventsAcked,
      eventsAcked: this.ackedEvents().length,
    };
  }
}
