import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthService } from '../../service/auth/auth.js';
import { ChangeFeed, type Change } from '../../service/storage/changes.js';
import type { MergePolicy } from '../../service/storage/changelog/core/merge.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { DocumentStore, type Doc } from '../../service/storage/documents.js';

interface Note extends Doc {
  text: string;
  seen: number;
}

/** `notes` is a test collection: in the log (like users and tokens) or outside it (like sources). */
const notesPolicy = (kind: string): MergePolicy => (kind === 'notes' ? 'last-writer-wins' : policyOf(kind));

/** Real nedb files in a temporary directory, with the change log under the logged collections. */
function openStore(opts: { dir?: string; notesLogged?: boolean } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sitecall-docs-'));
  if (!opts.dir) dirs.push(dir);
  const feed = new ChangeFeed();
  const changes: Change[] = [];
  feed.subscribe((c) => changes.push(c));
  const store = new DocumentStore(dir, feed, { logged: ['config', 'users', 'tokens', ...(opts.notesLogged ? ['notes'] : [])] });
  const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-test', policyOf: notesPolicy, durability: 'os' });
  logs.push(log);
  store.attachLog(log);
  return { dir, feed, changes, store, log };
}
const dirs: string[] = [];
const logs: ChangeLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.each([
  ['outside the change log', false],
  ['in the change log', true],
])('Collection.patch (%s)', (_, notesLogged) => {
  it('updates the fields of a document that exists, publishes it whole, and returns it', async () => {
    const { store, changes } = openStore({ notesLogged });
    const notes = await store.open<Note>('notes');
    await notes.put({ _id: 'a', text: 'hello', seen: 0 });
    const patched = await notes.patch('a', { seen: 1 });
    expect(patched).toEqual({ _id: 'a', text: 'hello', seen: 1 });
    expect(await notes.get('a')).toEqual({ _id: 'a', text: 'hello', seen: 1 });
    expect(changes.map((c) => [c.op, c.id, c.doc])).toEqual([
      ['put', 'a', { _id: 'a', text: 'hello', seen: 0 }],
      ['put', 'a', { _id: 'a', text: 'hello', seen: 1 }],
    ]);
  });

  it('creates nothing and publishes nothing for a document that is not there', async () => {
    const { store, changes, dir } = openStore({ notesLogged });
    const notes = await store.open<Note>('notes');
    expect(await notes.patch('missing', { seen: 1 })).toBeNull();
    expect(await notes.count()).toBe(0);
    expect(changes).toEqual([]);
    await store.flush();
    expect(readFileSync(join(dir, 'notes.db'), 'utf8').trim()).toBe('');
  });

  it('never brings back a document deleted while patches of it were under way', async () => {
    const { store, dir, log } = openStore({ notesLogged });
    const notes = await store.open<Note>('notes');
    const ids = Array.from({ length: 200 }, (_, i) => `n${i}`);
    for (const id of ids) await notes.put({ _id: id, text: id, seen: 0 });
    await Promise.all(ids.flatMap((id) => [notes.patch(id, { seen: 1 }), notes.delete(id), notes.patch(id, { seen: 2 })]));
    expect(await notes.count()).toBe(0);
    // and not in the file either, read again as after a restart
    await store.flush();
    await log.close();
    const reopened = await openStore({ dir, notesLogged }).store.open<Note>('notes');
    expect(await reopened.count()).toBe(0);
  });
});

describe('AuthService under concurrency', () => {
  it('a token revoked during its first use stays revoked', async () => {
    const { store } = openStore();
    const auth = await AuthService.open(store, { sessionTtlMs: 60_000 });
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => auth.createToken(`t${i}`, ['read'])));
    // the revocation leaves a few turns of the event loop after the use, so that it lands between its read and its write
    const turns = (n: number) => Array.from({ length: n }).reduce<Promise<void>>((p) => p.then(() => new Promise((r) => setImmediate(r))), Promise.resolve());
    await Promise.all(tokens.flatMap((t, i) => [auth.authenticate(t.token).catch(() => undefined), turns(i % 5).then(() => auth.revokeToken(t.id))]));
    expect(await auth.listTokens()).toEqual([]);
    const after = await Promise.all(tokens.map((t) => auth.authenticate(t.token).then(() => 'works', () => 'refused')));
    expect(after.filter((a) => a === 'works')).toEqual([]);
  });

  it('a login that read the old password while it was changed opens no session that outlives the change', async () => {
    const { store } = openStore();
    const auth = await AuthService.open(store, { sessionTtlMs: 60_000 });
    await auth.setPassword('admin', 'old password 0');
    const survivors: number[] = [];
    for (let round = 0; round < 10; round++) {
      const old = `old password ${round}`;
      const [login] = await Promise.all([auth.login('admin', old).catch(() => undefined), auth.setPassword('admin', `old password ${round + 1}`)]);
      if (login && (await auth.authenticate(login.token).then(() => true, () => false))) survivors.push(round);
    }
    expect(survivors).toEqual([]);
  });
});
