/**
 * The store check runs after the service listens, beside deposits and listings. The data
 * directory is given 500 audio files that no metadata points at, spread over 20 mailboxes: the
 * check quarantines each (a record, a rename and fsyncs: seconds on this machine), while a media
 * server deposits into the same mailboxes. Every deposit answered 201 must stay a message with
 * its audio: neither its temp file (listed while it was still being written) nor its file
 * (listed before its metadata was applied) is ever taken for an unfinished write or an orphan.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { login, startService } from '../support/service.js';
import { eventually } from '../support/events-client.js';
import { filesUnder, makeWav, multipartBody, storeChecked, vmailClient } from '../support/vmail.js';

const DOMAIN = 'office.example';
const BOXES = Array.from({ length: 20 }, (_, i) => String(2001 + i));
const ORPHANS_PER_BOX = 25;

describe('vmail store check beside live requests', () => {
  it('serves deposits and listings while it runs, shows it in /healthz, and quarantines only the files nobody wrote', async () => {
    const first = await startService();
    const dataDir = first.dataDir;
    const orphans = new Set<string>();
    try {
      const c = vmailClient(first.url, await login(first));
      for (const number of BOXES) expect((await c.createMailbox({ number, name: `Box ${number}`, maxMessages: 1000 })).status).toBe(201);
      // one message per mailbox, so each has its directory
      for (const number of BOXES) expect((await c.deposit(number, makeWav(0.1))).status).toBe(201);
    } finally {
      expect(await first.stop({ keepData: true })).toBe(0);
    }
    const orphanWav = makeWav(0.1);
    for (const number of BOXES) {
      for (let i = 0; i < ORPHANS_PER_BOX; i++) {
        const name = `${randomUUID()}.wav`;
        writeFileSync(join(dataDir, 'vmail', DOMAIN, number, name), orphanWav);
        orphans.add(name);
      }
    }

    const second = await startService({ dataDir });
    try {
      const token = await login(second);
      const c = vmailClient(second.url, token);
      // A slow deposit into every mailbox: its header and a part of its audio now, so its temp file
      // is there while the check lists the directories; the rest once the check is done.
      const { port } = new URL(second.url);
      const slow = BOXES.map((number) => {
        const wav = makeWav(5);
        const { body, contentType } = multipartBody([{ name: 'callerNumber', value: 'slow' }, { name: 'audio', value: wav, filename: 'slow.wav' }]);
        const req = request({ hostname: '127.0.0.1', port, method: 'POST', path: `/api/v1/domains/${DOMAIN}/mailboxes/${number}/messages`, headers: { authorization: `Bearer ${token}`, 'content-type': contentType, 'content-length': String(body.length) } });
        const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
          req.on('response', (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          });
          req.on('error', reject);
        });
        req.write(body.subarray(0, 40_000));
        return { number, wav, body, req, answer };
      });
      await eventually(async () => slow.every((u) => filesUnder(join(dataDir, 'vmail', DOMAIN, u.number)).some((f) => f.endsWith('.tmp'))), 20_000, 'the temp files of the slow deposits');
      const deposited: { box: string; id: string; wav: Buffer }[] = [];
      /** deposits answered, and listed, while the check was still running */
      let duringCheck = 0;
      const running = async () => {
        const h = (await (await fetch(`${second.url}/healthz`)).json()) as { status: string; tasks?: { task: string; state: string }[] };
        expect(h.status).toBe('ok');
        return (h.tasks ?? []).some((t) => t.task === 'store check' && t.state === 'running');
      };
      for (let i = 0; (await running()) || i < 10; i++) {
        const box = BOXES[i % BOXES.length] as string;
        const wav = makeWav(0.2);
        const res = await c.deposit(box, wav, { callerNumber: String(i) });
        expect(res.status).toBe(201);
        deposited.push({ box, id: res.body.id, wav });
        const list = await c.list(box, '?limit=500');
        expect(list.status).toBe(200);
        expect(list.body.items.map((m: { id: string }) => m.id)).toContain(res.body.id);
        if (await running()) duringCheck++;
        if (i > 2000) throw new Error('the store check does not finish');
      }
      // the test means something only if requests ran while the check did
      expect(duringCheck).toBeGreaterThan(0);
      await storeChecked(second);
      for (const u of slow) u.req.end(u.body.subarray(40_000));
      for (const u of slow) {
        const answer = await u.answer;
        expect(answer.status, answer.text).toBe(201);
        deposited.push({ box: u.number, id: (JSON.parse(answer.text) as { id: string }).id, wav: u.wav });
      }

      const report = JSON.parse(/\{[^\n]*"msg":"vmail store checked"[^\n]*\}/.exec(second.logs())?.[0] ?? '{}') as { tempFiles: number; orphanFiles: number; missingAudio: number };
      expect(report).toMatchObject({ tempFiles: 0, orphanFiles: orphans.size, missingAudio: 0 });
      const q = await c.json('GET', `${second.url}/api/v1/domains/${DOMAIN}/quarantine`);
      expect(new Set(q.body.items.map((e: { fileName: string }) => e.fileName))).toEqual(orphans);
      expect(q.body.missingAudio).toEqual([]);
      for (const d of deposited) {
        const m = await c.message(d.box, d.id);
        expect(m.body.audioMissing).toBe(false);
        expect((await c.audio(d.box, d.id)).bytes.equals(d.wav)).toBe(true);
      }
    } finally {
      await second.stop();
    }
  }, 120_000);
});
