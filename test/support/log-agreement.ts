/**
 * Does the change log hold what the service serves? For the crash test of issue 16: the log file
 * is opened read-only beside the running service, and for every kind it carries the same state is
 * read from the public API and compared, field by field, on what both sides have.
 *
 * A reader per kind of replicated state: configuration, users, API tokens, mailboxes, voicemail
 * messages, CDRs, raw call events and the groups' Active-Passive terms. A kind is checked as soon as the log carries it; a reader
 * whose kind the log does not carry yet is reported as skipped (the caller prints it), and a kind
 * the log carries with no reader here is a problem of its own, not silently passed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Cdr } from '../../shared/api/cdr.js';
import { mergeRecords } from '../../service/storage/cdr/winner.js';
import { policyOf, RECORD_RULES } from '../../service/storage/changelog/kinds.js';
import { apiClient } from './api.js';
import { inParallel } from './crash-source.js';

type Docs = Map<string, unknown>;

/** Per kind, the live state the log holds: document kinds from `documents` (tombstones left out), add-only kinds from `entries` (first by key). */
export function logState(dataDir: string): Map<string, Docs> {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const kinds = (db.prepare('SELECT DISTINCT kind FROM entries UNION SELECT DISTINCT kind FROM documents').pluck().all() as string[]).sort();
    const out = new Map<string, Docs>();
    for (const kind of kinds) {
      const docs: Docs = new Map();
      if (policyOf(kind) === 'add-only') {
        // per id what the kind's store keeps: the first (raw events), or the winner of its versions (CDRs: winner.ts)
        const ranked = (RECORD_RULES as Record<string, string>)[kind] === 'ranked';
        for (const r of db.prepare('SELECT key, body FROM entries WHERE kind = ? AND body IS NOT NULL ORDER BY origin, seq').iterate(kind) as Iterable<{ key: string; body: string }>) {
          const held = docs.get(r.key);
          if (held === undefined) docs.set(r.key, JSON.parse(r.body) as unknown);
          else if (ranked) docs.set(r.key, mergeRecords(held as Cdr, JSON.parse(r.body) as Cdr));
        }
      } else {
        for (const r of db.prepare('SELECT key, body FROM documents WHERE kind = ? AND body IS NOT NULL').iterate(kind) as Iterable<{ key: string; body: string }>) docs.set(r.key, JSON.parse(r.body) as unknown);
      }
      out.set(kind, docs);
    }
    return out;
  } finally {
    db.close();
  }
}

/** A collection's nedb file as nedb reads it: later lines replace earlier ones, `$$deleted` removes. */
export function nedbCollection(dataDir: string, collection: string): Docs {
  const docs: Docs = new Map();
  const file = join(dataDir, 'db', `${collection}.db`);
  if (!existsSync(file)) return docs;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const doc = JSON.parse(line) as { _id?: string; $$deleted?: boolean; $$indexCreated?: unknown };
    if (doc.$$indexCreated || doc._id === undefined) continue;
    if (doc.$$deleted) docs.delete(doc._id);
    else docs.set(doc._id, doc);
  }
  return docs;
}

interface ReadContext {
  url: string;
  adminToken: string;
  /** every domain the log or the test knows of (mailboxes are listed per domain) */
  domains: string[];
}

type Body = Record<string, unknown>;

interface KindReader {
  /** the kind in the log, and other names it may land under */
  kinds: readonly string[];
  what: string;
  /** key → what the API serves of it */
  served(ctx: ReadContext): Promise<Docs>;
  /** the same from the log's body: [key as the API names it, projection] */
  fromLog(key: string, body: Body): [string, unknown];
}

const pick = (body: Body, fields: readonly string[]) => Object.fromEntries(fields.map((f) => [f, body[f] ?? null]));
const lastSegment = (key: string) => key.slice(key.lastIndexOf('/') + 1);

const MAILBOX_FIELDS = ['domain', 'number', 'name', 'email', 'maxMessages', 'maxMessageSeconds', 'retentionDays', 'notify', 'createdAt', 'updatedAt'] as const;
const MESSAGE_FIELDS = ['domain', 'mailbox', 'folder', 'urgent', 'callerName', 'callerNumber', 'callId', 'createdAt', 'readAt', 'deletedAt', 'durationMs', 'originSite'] as const;
const CDR_FIELDS = ['id', 'startedAt', 'endedAt', 'disposition', 'eventIds'] as const;
const EVENT_FIELDS = ['id', 'source', 'seq', 'ts', 'type', 'callId'] as const;

async function mailboxesOf(ctx: ReadContext): Promise<Body[]> {
  const api = apiClient(ctx.url, ctx.adminToken);
  const out: Body[] = [];
  for (const domain of ctx.domains) {
    const res = await api.get(`/api/v1/domains/${domain}/mailboxes`);
    if (res.status === 200) out.push(...(res.body.items as Body[]));
  }
  return out;
}

async function cdrsOf(ctx: ReadContext): Promise<Body[]> {
  const res = await fetch(`${ctx.url}/api/v1/cdrs/export?format=ndjson`, { headers: { authorization: `Bearer ${ctx.adminToken}` } });
  if (!res.ok) throw new Error(`export: ${res.status}`);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Body);
}

export const READERS: readonly KindReader[] = [
  {
    kinds: ['config'],
    what: 'the role configuration (GET /api/v1/config/roles)',
    async served(ctx) {
      const body = (await apiClient(ctx.url, ctx.adminToken).get('/api/v1/config/roles')).body as Body;
      return new Map([['roles', pick(body, ['revision', 'instances'])]]);
    },
    fromLog: (key, body) => [key, pick(body, ['revision', 'instances'])],
  },
  {
    kinds: ['users'],
    what: 'the users (only admin: GET /api/v1/auth/me with its session)',
    async served(ctx) {
      const me = (await apiClient(ctx.url, ctx.adminToken).get('/api/v1/auth/me')).body as Body;
      return new Map([[me['name'] as string, pick(me, ['scopes'])]]);
    },
    fromLog: (key, body) => [key, pick(body, ['scopes'])],
  },
  {
    kinds: ['tokens'],
    what: 'the API tokens (GET /api/v1/tokens)',
    async served(ctx) {
      const items = (await apiClient(ctx.url, ctx.adminToken).get('/api/v1/tokens')).body.items as Body[];
      return new Map(items.map((t) => [t['id'] as string, pick(t, ['name', 'scopes', 'createdAt', 'lastUsedAt'])]));
    },
    fromLog: (key, body) => [key, pick(body, ['name', 'scopes', 'createdAt', 'lastUsedAt'])],
  },
  {
    kinds: ['vmail_mailboxes', 'mailboxes'],
    what: 'the mailboxes (GET /api/v1/domains/{domain}/mailboxes)',
    async served(ctx) {
      return new Map((await mailboxesOf(ctx)).map((b) => [`${b['domain'] as string}/${b['number'] as string}`, pick(b, MAILBOX_FIELDS)]));
    },
    fromLog: (key, body) => [key, pick(body, MAILBOX_FIELDS)],
  },
  {
    kinds: ['vmail_messages', 'messages'],
    what: 'the voicemail messages (GET …/mailboxes/{box}/messages, every folder)',
    async served(ctx) {
      const api = apiClient(ctx.url, ctx.adminToken);
      const out: Docs = new Map();
      await inParallel(await mailboxesOf(ctx), 4, async (b) => {
        for (const folder of ['inbox', 'deleted']) {
          for (let offset = 0; ; offset += 500) {
            const page = await api.get(`/api/v1/domains/${b['domain'] as string}/mailboxes/${b['number'] as string}/messages?folder=${folder}&limit=500&offset=${offset}`);
            for (const m of page.body.items as Body[]) out.set(m['id'] as string, pick(m, MESSAGE_FIELDS));
            if (offset + 500 >= (page.body.total as number)) break;
          }
        }
      });
      return out;
    },
    fromLog: (key, body) => [String(body['id'] ?? lastSegment(key)), pick(body, MESSAGE_FIELDS)],
  },
  {
    kinds: ['cdrs', 'cdr'],
    what: 'the call records (GET /api/v1/cdrs/export)',
    async served(ctx) {
      return new Map((await cdrsOf(ctx)).map((c) => [c['id'] as string, pick(c, CDR_FIELDS)]));
    },
    fromLog: (key, body) => [String(body['id'] ?? lastSegment(key)), pick(body, CDR_FIELDS)],
  },
  {
    kinds: ['role_term'],
    what: 'the groups’ Active-Passive terms (GET /api/v1/status, groups)',
    async served(ctx) {
      const groups = (await apiClient(ctx.url, ctx.adminToken).get('/api/v1/status')).body.groups as Body[];
      // a group without a term (0) is not in the log
      return new Map(groups.filter((g) => (g['term'] as number) > 0).map((g) => [`${g['roletype'] as string}:${g['group'] as number}`, pick(g, ['term', 'since'])]));
    },
    fromLog: (key, body) => [key, pick(body, ['term', 'since'])],
  },
  {
    kinds: ['event', 'events', 'call_events', 'raw_events', 'journal'],
    what: 'the raw call events (GET /api/v1/cdrs/{id}/events and /api/v1/calls/{id})',
    async served(ctx) {
      const api = apiClient(ctx.url, ctx.adminToken);
      const out: Docs = new Map();
      const add = (events: Body[]) => {
        for (const e of events) out.set(e['id'] as string, pick(e, EVENT_FIELDS));
      };
      await inParallel(await cdrsOf(ctx), 6, async (c) => add((await api.get(`/api/v1/cdrs/${encodeURIComponent(c['id'] as string)}/events`)).body.items as Body[]));
      const calls: Body[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { items: Body[]; nextCursor: string | null } } = await api.get(`/api/v1/calls?limit=5000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        calls.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor);
      await inParallel(calls, 6, async (c) => {
        const detail = await api.get(`/api/v1/calls/${encodeURIComponent(c['id'] as string)}`);
        if (detail.status === 200) add(detail.body.events as Body[]);
      });
      return out;
    },
    // the journal's entry is { instance, receivedAt, tsMs, event }: the raw event as it came
    fromLog: (key, body) => {
      const event = (typeof body['event'] === 'object' && body['event'] !== null ? body['event'] : body) as Body;
      return [String(event['id'] ?? lastSegment(key)), pick(event, EVENT_FIELDS)];
    },
  },
];

export interface Agreement {
  /** per kind of the log: how many keys were compared */
  checked: Record<string, number>;
  /** readers whose kind the log does not carry (yet) */
  skipped: string[];
  problems: string[];
  /** per kind, what the API served (for comparing a replay with the original) */
  served: Map<string, Docs>;
}

function differences(kind: string, fromLog: Docs, served: Docs): string[] {
  const out: string[] = [];
  for (const [key, value] of fromLog) {
    if (!served.has(key)) out.push(`${kind}/${key}: in the log, not served`);
    else if (JSON.stringify(served.get(key)) !== JSON.stringify(value)) out.push(`${kind}/${key}: the log holds ${JSON.stringify(value)}, the API serves ${JSON.stringify(served.get(key))}`);
  }
  for (const key of served.keys()) if (!fromLog.has(key)) out.push(`${kind}/${key}: served, not in the log`);
  return out;
}

/** Compares, for every kind the log carries, the log's state with what the service serves. */
export async function compareLogWithApi(dataDir: string, ctx: Omit<ReadContext, 'domains'> & { domains: readonly string[] }): Promise<Agreement> {
  const state = logState(dataDir);
  const domains = new Set(ctx.domains);
  for (const key of state.get('vmail_mailboxes')?.keys() ?? []) domains.add(key.split('/')[0] as string);
  const read: ReadContext = { ...ctx, domains: [...domains] };
  const result: Agreement = { checked: {}, skipped: [], problems: [], served: new Map() };
  const claimed = new Set<string>();
  for (const reader of READERS) {
    const kind = reader.kinds.find((k) => state.has(k));
    if (kind === undefined) {
      result.skipped.push(`${reader.kinds[0]} (${reader.what})`);
      continue;
    }
    claimed.add(kind);
    const fromLog: Docs = new Map([...(state.get(kind) as Docs)].map(([key, body]) => reader.fromLog(key, body as Body)));
    const served = await reader.served(read);
    result.served.set(kind, served);
    result.checked[kind] = fromLog.size;
    const diff = differences(kind, fromLog, served);
    if (diff.length) result.problems.push(`${kind}: ${diff.length} differences between the log and the API`, ...diff.slice(0, 10));
  }
  for (const kind of state.keys()) if (!claimed.has(kind)) result.problems.push(`the log carries kind ${JSON.stringify(kind)}, which test/support/log-agreement.ts has no API reader for: add one`);
  return result;
}

/**
 * The same comparison for a kind the log does not carry yet, against the store that holds it
 * today (the vmail nedb files hold the bodies the log will): it keeps the reader honest before
 * its kind lands, so the day it does, a difference is the log's and not the reader's.
 */
export async function compareStoreWithApi(kind: string, docs: Docs, ctx: Omit<ReadContext, 'domains'> & { domains: readonly string[] }): Promise<{ checked: number; problems: string[] }> {
  const reader = READERS.find((r) => r.kinds.includes(kind));
  if (!reader) throw new Error(`no reader for ${kind}`);
  const fromStore: Docs = new Map([...docs].map(([key, body]) => reader.fromLog(key, body as Body)));
  const diff = differences(`${kind} (store)`, fromStore, await reader.served({ ...ctx, domains: [...ctx.domains] }));
  return { checked: fromStore.size, problems: diff.slice(0, 10) };
}
