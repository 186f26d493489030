/**
 * A deposit whose change-log entry committed but whose message store could not apply it. The
 * failure is real: another connection (as a sqlite3 shell or a backup tool would) holds the write
 * lock of the message store's SQLite file while the deposit runs, so the store's apply fails with
 * SQLITE_BUSY after the entry is durable in the log.
 *
 * The deposit is durable, so the client must not be told it failed (a media server then deposits
 * again, and the mailbox ends with the message twice): it is answered 201 with its id, readable at
 * once by id, and the store applies it from the log as soon as the lock is gone.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { messageStoreFile } from '../../service/vmail/message-store.js';
import { eventually } from '../support/events-client.js';
import { login, startService } from '../support/service.js';
import { filesUnder, makeWav, vmailClient } from '../support/vmail.js';

describe('vmail: a store apply that fails after the log commit', () => {
  it('answers the deposit 201 (no 500, so no retry and no second message), serves it by id, and lists it once the store recovers', async () => {
    const service = await startService();
    let locker: Database.Database | undefined;
    try {
      const client = vmailClient(service.url, await login(service));
      expect((await client.createMailbox({ number: '1001', name: 'Reception' })).status).toBe(201);
      const first = await client.deposit('1001', makeWav(0.5), { callerNumber: '100' });
      expect(first.status).toBe(201);

      locker = new Database(messageStoreFile(service.dataDir));
      locker.exec('BEGIN IMMEDIATE');
      // What a media server does: deposit, and deposit again while the answer is a server error.
      const wav = makeWav(0.5);
      let answer = await client.deposit('1001', wav, { callerNumber: '200' });
      const answers = [answer.status];
      for (let tries = 0; answer.status >= 500 && tries < 3; tries++) {
        answer = await client.deposit('1001', wav, { callerNumber: '200' });
        answers.push(answer.status);
      }
      expect(answers).toEqual([201]);
      const id = answer.body.id as string;
      // durable and known by id while the store still cannot take it
      expect((await client.message('1001', id)).status).toBe(200);
      const health = (await (await fetch(`${service.url}/healthz`)).json()) as { status: string; reasons?: { component: string; message: string }[] };
      expect(health.status).toBe('degraded');
      expect(health.reasons?.map((r) => r.component)).toContain('vmail-messages');

      locker.exec('ROLLBACK');
      locker.close();
      locker = undefined;
      const listed = await eventually(async () => {
        const list = await client.list('1001');
        return list.body.total === 2 ? list.body : undefined;
      }, 20_000, 'the deposit to be listed');
      expect(listed.items.map((m: { id: string }) => m.id).sort()).toEqual([first.body.id, id].sort());
      expect((await client.json('GET', '/1001/mwi')).body).toMatchObject({ new: 2 });
      await eventually(async () => ((await (await fetch(`${service.url}/healthz`)).json()) as { status: string }).status === 'ok', 20_000, '/healthz to say ok');
      expect((await client.audio('1001', id)).bytes.equals(wav)).toBe(true);
      expect(filesUnder(`${service.dataDir}/vmail/office.example/1001`)).toHaveLength(2);

      // and after a restart: the same two messages, nothing applied twice
      expect(await service.stop({ keepData: true })).toBe(0);
      const again = await startService({ dataDir: service.dataDir });
      try {
        const b = vmailClient(again.url, await login(again));
        expect((await b.list('1001')).body.total).toBe(2);
      } finally {
        await again.stop();
      }
    } finally {
      locker?.close();
      await service.stop();
    }
  }, 60_000);
});

/** Per origin, where the message store's saved position stands against the last entry of the log. */
function storePosition(dataDir: string): { origin: number; seq: number; head: number }[] {
  const db = new Database(join(dataDir, 'changelog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare("SELECT p.origin, p.seq, coalesce((SELECT max(seq) FROM entries e WHERE e.origin = p.origin), 0) AS head FROM positions p WHERE p.store = 'vmail-messages'")
      .all() as { origin: number; seq: number; head: number }[];
  } finally {
    db.close();
  }
}

describe('vmail: the message store position after a failed apply', () => {
  it('moves the saved position on once the re-apply from the log succeeds, without waiting for a restart', async () => {
    const service = await startService();
    let locker: Database.Database | undefined;
    try {
      const client = vmailClient(service.url, await login(service));
      expect((await client.createMailbox({ number: '1001', name: 'Reception' })).status).toBe(201);
      expect((await client.deposit('1001', makeWav(0.5))).status).toBe(201);
      // caught up before the failure: the position reaches the head (saved at most once a second)
      await eventually(async () => storePosition(service.dataDir).every((p) => p.seq === p.head) && storePosition(service.dataDir).length > 0, 20_000, 'the store position to reach the head before the failure');

      locker = new Database(messageStoreFile(service.dataDir));
      locker.exec('BEGIN IMMEDIATE');
      const failed = await client.deposit('1001', makeWav(0.5), { callerNumber: '200' });
      expect(failed.status).toBe(201);
      const behind = storePosition(service.dataDir);
      expect(behind.some((p) => p.seq < p.head)).toBe(true);
      locker.exec('ROLLBACK');
      locker.close();
      locker = undefined;
      await eventually(async () => ((await (await fetch(`${service.url}/healthz`)).json()) as { status: string }).status === 'ok', 20_000, '/healthz to say ok');
      expect((await client.list('1001')).body.total).toBe(2);

      // nothing else is written: the re-apply alone moves the position to the head
      const caughtUp = await eventually(async () => {
        const now = storePosition(service.dataDir);
        return now.length > 0 && now.every((p) => p.seq === p.head) ? now : undefined;
      }, 10_000, 'the saved position of the message store to reach the head of the log after the re-apply');
      expect(caughtUp.length).toBeGreaterThan(0);

      // and a restart finds the store current: nothing to re-apply
      expect(await service.stop({ keepData: true })).toBe(0);
      const again = await startService({ dataDir: service.dataDir });
      try {
        const attached = again.logs().split('\n').find((l) => l.includes('voicemail metadata store attached to the change log'));
        expect(attached).toMatch(/"how":"current"/);
        const b = vmailClient(again.url, await login(again));
        expect((await b.list('1001')).body.total).toBe(2);
      } finally {
        await again.stop();
      }
    } finally {
      locker?.close();
      await service.stop();
    }
  }, 90_000);
});
