import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { login, startService, type RunningTestService } from '../support/service.js';

const TOKENS = 200;

/**
 * A token revoked while it is being used must stay revoked: the first use writes `lastUsedAt`, and
 * that write must never bring back a token deleted in between (issue 15: 199 of 200 came back).
 */
describe('API tokens revoked at the moment of their first use', () => {
  let svc: RunningTestService;
  let created: { id: string; token: string }[] = [];

  beforeAll(async () => {
    svc = await startService();
  });
  afterAll(async () => {
    // the restarts reuse the first start's data directory, which is then no longer removed on stop
    const root = dirname(svc.dataDir);
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const admin = async () => apiClient(svc.url, await login(svc));

  /** Every token is refused, and none is listed. */
  const expectAllRevoked = async (when: string) => {
    const api = await admin();
    const listed = (await api.get<{ items: { id: string }[] }>('/api/v1/tokens')).body.items.map((t) => t.id);
    const back = created.filter((c) => listed.includes(c.id));
    const answers = await Promise.all(created.map(async (c) => (await apiClient(svc.url, c.token).get('/api/v1/auth/me')).status));
    const working = answers.filter((s) => s !== 401).length;
    expect({ when, listedAgain: back.length, stillWorking: working }).toEqual({ when, listedAgain: 0, stillWorking: 0 });
  };

  it('none works and none is listed afterwards, nor after a crash, nor after a clean restart', async () => {
    const api = await admin();
    const made = await Promise.all(Array.from({ length: TOKENS }, (_, i) => api.post<{ id: string; token: string }>('/api/v1/tokens', { name: `race ${i}`, scopes: ['read'] })));
    expect(made.map((r) => r.status)).toEqual(made.map(() => 201));
    created = made.map((r) => ({ id: r.body.id, token: r.body.token }));
    // Each token's first use and its revocation leave at the same moment.
    const outcomes = await Promise.all(
      created.map(async (c) => {
        const [use, revoke] = await Promise.all([apiClient(svc.url, c.token).get('/api/v1/auth/me'), api.delete(`/api/v1/tokens/${c.id}`)]);
        return { use: use.status, revoke: revoke.status };
      }),
    );
    // The use may win or lose the race (200 or 401); the revocation always succeeds.
    expect(outcomes.every((o) => o.revoke === 204 && (o.use === 200 || o.use === 401))).toBe(true);
    await expectAllRevoked('right after');

    // a crash: nedb's append-only file as it was written, replayed
    const dataDir = svc.dataDir;
    await svc.kill();
    svc = await startService({ dataDir });
    await expectAllRevoked('after kill -9 and a restart');

    // a clean stop compacts the files
    expect(await svc.stop({ keepData: true })).toBe(0);
    svc = await startService({ dataDir });
    await expectAllRevoked('after a clean restart');
  }, 120_000);
});
