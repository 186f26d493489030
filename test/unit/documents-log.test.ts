import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthService } from '../../service/auth/auth.js';
import { RolesConfigStore } from '../../service/config/roles-store.js';
import { ChangeFeed, type Change } from '../../service/storage/changes.js';
import { policyOf } from '../../service/storage/changelog/kinds.js';
import { ChangeLog } from '../../service/storage/changelog/log.js';
import { DocumentStore, type Doc } from '../../service/storage/documents.js';

interface TokenLike extends Doc {
  name: string;
  secretHash: string;
  lastUsedAt: string | null;
}

const dirs: string[] = [];
const logs: ChangeLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sitecall-docs-log-'));
  dirs.push(dir);
  return dir;
}

/** A data directory's documents opened as the service opens them: nedb views over the change log. */
function open(dir: string, origin = 'site-a') {
  const feed = new ChangeFeed();
  const changes: Change[] = [];
  feed.subscribe((c) => changes.push(c));
  const store = new DocumentStore(join(dir, 'db'), feed);
  const log = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin, policyOf, durability: 'os' });
  logs.push(log);
  store.attachLog(log);
  return { store, log, changes };
}

async function closeAll(s: { store: DocumentStore; log: ChangeLog }): Promise<void> {
  await s.store.flush();
  s.store.detachLog();
  await s.log.close();
}

const sorted = <T extends Doc>(docs: T[]) => [...docs].sort((a, b) => (a._id < b._id ? -1 : 1));

describe('documents as views of the change log', () => {
  it('puts, patches and deletes become log entries with versions and tombstones, published in log order with their position', async () => {
    const dir = dataDir();
    const s = open(dir);
    const tokens = await s.store.open<TokenLike>('tokens', { indexes: [{ fieldName: 'secretHash', unique: true }] });
    await tokens.put({ _id: 't1', name: 'pbx', secretHash: 'h1', lastUsedAt: null });
    await tokens.patch('t1', { lastUsedAt: '2026-01-01T00:00:00.000Z' });
    await tokens.put({ _id: 't2', name: 'ivr', secretHash: 'h2', lastUsedAt: null });
    expect(await tokens.delete('t1')).toBe(true);
    expect(await tokens.delete('t1')).toBe(false);
    expect(await tokens.patch('t1', { name: 'back?' })).toBeNull();

    const entries = s.log.after('site-a', 0, 100);
    expect(entries.map((e) => [e.seq, e.kind, e.key, e.body === null ? 'tombstone' : 'put'])).toEqual([
      [1, 'tokens', 't1', 'put'],
      [2, 'tokens', 't1', 'put'],
      [3, 'tokens', 't2', 'put'],
      [4, 'tokens', 't1', 'tombstone'],
    ]);
    expect(tokens.version('t1')).toMatchObject({ tombstone: true, origin: 'site-a', hlc: entries[3]?.hlc });
    expect(tokens.version('t2')).toMatchObject({ tombstone: false, origin: 'site-a', hlc: entries[2]?.hlc });
    expect(s.changes.map((c) => [c.seq, c.origin, c.op, c.id])).toEqual([
      [1, 'site-a', 'put', 't1'],
      [2, 'site-a', 'put', 't1'],
      [3, 'site-a', 'put', 't2'],
      [4, 'site-a', 'delete', 't1'],
    ]);
    expect(await tokens.find({})).toEqual([{ _id: 't2', name: 'ivr', secretHash: 'h2', lastUsedAt: null }]);
  });

  it('refuses a duplicate of a unique field before the log is written', async () => {
    const s = open(dataDir());
    const tokens = await s.store.open<TokenLike>('tokens', { indexes: [{ fieldName: 'secretHash', unique: true }] });
    await tokens.put({ _id: 't1', name: 'a', secretHash: 'same', lastUsedAt: null });
    await expect(tokens.put({ _id: 't2', name: 'b', secretHash: 'same', lastUsedAt: null })).rejects.toMatchObject({ errorType: 'uniqueViolated' });
    expect(s.log.head()['site-a']).toBe(1);
    await tokens.put({ _id: 't1', name: 'renamed', secretHash: 'same', lastUsedAt: null });
    expect(s.log.head()['site-a']).toBe(2);
  });

  it('an empty db directory and the log give the same documents (users, tokens, configuration)', async () => {
    const dir = dataDir();
    const s = open(dir);
    const auth = await AuthService.open(s.store, { sessionTtlMs: 60_000 });
    await auth.setPassword('admin', 'first password');
    const made = await Promise.all(['pbx', 'ivr', 'crm'].map((n) => auth.createToken(n, ['read'])));
    await auth.revokeToken((made[1] as { id: string }).id);
    await auth.authenticate((made[0] as { token: string }).token);
    const roles = await RolesConfigStore.open(s.store, 'site-a');
    await roles.replace({ instances: [] });
    const before = {
      tokens: await auth.listTokens(),
      roles: roles.get(),
    };
    await closeAll(s);
    const dbFiles = (name: string) => readFileSync(join(dir, 'db', `${name}.db`), 'utf8');
    const usersFile = dbFiles('users');

    rmSync(join(dir, 'db'), { recursive: true });
    const again = open(dir);
    const auth2 = await AuthService.open(again.store, { sessionTtlMs: 60_000 });
    const roles2 = await RolesConfigStore.open(again.store, 'site-a');
    expect(await auth2.listTokens()).toEqual(before.tokens);
    expect(roles2.get()).toEqual(before.roles);
    expect(await auth2.login('admin', 'first password')).toBeTruthy();
    await expect(auth2.authenticate((made[1] as { token: string }).token)).rejects.toThrow(/revoked/);
    await closeAll(again);
    // the rebuilt users file holds the same documents (sessions are site-local: not rebuilt)
    const docsOf = (text: string) => sorted(text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc));
    expect(docsOf(dbFiles('users'))).toEqual(docsOf(usersFile));
    expect(docsOf(usersFile).map((d) => d._id)).toEqual(['admin']);
  });

  it('a change the log committed but the file never got (a crash in between) is applied at the next start', async () => {
    const dir = dataDir();
    const s = open(dir);
    const tokens = await s.store.open<TokenLike>('tokens');
    await tokens.put({ _id: 't1', name: 'pbx', secretHash: 'h1', lastUsedAt: null });
    await closeAll(s);
    // the log alone, as at the moment of a crash after its commit and before the nedb write
    const bare = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-a', policyOf, durability: 'os' });
    bare.append({ kind: 'tokens', key: 't2', body: { _id: 't2', name: 'ivr', secretHash: 'h2', lastUsedAt: null } });
    bare.append({ kind: 'tokens', key: 't1', body: null });
    await bare.close();
    const again = open(dir);
    const tokens2 = await again.store.open<TokenLike>('tokens');
    expect(await tokens2.find({})).toEqual([{ _id: 't2', name: 'ivr', secretHash: 'h2', lastUsedAt: null }]);
  });

  it('documents written before the log existed are adopted into it, not lost', async () => {
    const dir = dataDir();
    // a data directory of a version without the change log: nedb files only
    const old = new DocumentStore(join(dir, 'db'), new ChangeFeed(), { logged: [] });
    const oldTokens = await old.open<TokenLike>('tokens');
    await oldTokens.put({ _id: 't1', name: 'pbx', secretHash: 'h1', lastUsedAt: null });
    await old.flush();
    const s = open(dir);
    const tokens = await s.store.open<TokenLike>('tokens');
    expect(await tokens.get('t1')).toMatchObject({ name: 'pbx' });
    expect(s.log.after('site-a', 0, 10).map((e) => e.key)).toEqual(['t1']);
    // and from then on the log can rebuild it
    await closeAll(s);
    rmSync(join(dir, 'db'), { recursive: true });
    const again = open(dir);
    expect(await (await again.store.open<TokenLike>('tokens')).get('t1')).toMatchObject({ name: 'pbx' });
  });

  it('replaying the log into an empty data directory gives the same documents', async () => {
    const dir = dataDir();
    const s = open(dir);
    const auth = await AuthService.open(s.store, { sessionTtlMs: 60_000 });
    await auth.setPassword('admin', 'a password');
    const t = await auth.createToken('pbx', ['events']);
    await auth.createToken('crm', ['read']);
    await auth.revokeToken(t.id);
    const roles = await RolesConfigStore.open(s.store, 'site-a');
    await roles.replace({ instances: [] });
    const expected = { tokens: await auth.listTokens(), roles: roles.get() };
    await closeAll(s);

    const empty = dataDir();
    const replay = open(empty);
    const source = ChangeLog.open(join(dir, 'changelog.sqlite'), { origin: 'site-a', policyOf, durability: 'os' });
    logs.push(source);
    let vector = {};
    for (let page = source.since(vector, 2); page.length; page = source.since(vector, 2)) {
      replay.log.receive(page);
      vector = replay.log.head();
    }
    const auth2 = await AuthService.open(replay.store, { sessionTtlMs: 60_000 });
    const roles2 = await RolesConfigStore.open(replay.store, 'site-a');
    expect(await auth2.listTokens()).toEqual(expected.tokens);
    expect(roles2.get()).toEqual(expected.roles);
    expect(await auth2.login('admin', 'a password')).toBeTruthy();
  });

  it('a revoked token cannot be written again (delete-wins), users can (last-writer-wins)', async () => {
    const s = open(dataDir());
    const tokens = await s.store.open<TokenLike>('tokens');
    await tokens.put({ _id: 't1', name: 'pbx', secretHash: 'h1', lastUsedAt: null });
    await tokens.delete('t1');
    await expect(tokens.put({ _id: 't1', name: 'pbx', secretHash: 'h1', lastUsedAt: 'now' })).rejects.toThrow(/deleted/);
    expect(await tokens.get('t1')).toBeNull();
    expect(tokens.version('t1')?.tombstone).toBe(true);
    const users = await s.store.open<Doc & { n: number }>('users');
    await users.put({ _id: 'bob', n: 1 });
    await users.delete('bob');
    await users.put({ _id: 'bob', n: 2 });
    expect(await users.get('bob')).toEqual({ _id: 'bob', n: 2 });
  });

  it('a logged collection cannot be opened without the log', async () => {
    const store = new DocumentStore(join(dataDir(), 'db'), new ChangeFeed());
    await expect(AuthService.open(store, { sessionTtlMs: 1 })).rejects.toThrow(/view of the change log/);
  });
});
