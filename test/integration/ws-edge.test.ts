import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/api.js';
import { assertAlive } from '../support/liveness.js';
import { closePayload, frame, rawExchange, sendAndReset, upgradeRequest, WS_OPCODES } from '../support/raw-ws.js';
import { UNPARSEABLE_TARGETS, WS_ENDPOINTS, WS_VIOLATIONS } from '../support/ws-attacks.js';
import { login, startService, type RunningTestService } from '../support/service.js';

/**
 * The WebSocket upgrade and both WebSockets take any bytes a client sends without the service
 * going down: each attack is sent as raw bytes, then the process must still run and /healthz answer.
 */
describe('WebSocket edge', () => {
  let svc: RunningTestService;
  let tokens: { events: string; read: string };

  beforeAll(async () => {
    svc = await startService();
    const admin = apiClient(svc.url, await login(svc));
    tokens = {
      events: (await admin.post('/api/v1/tokens', { name: 'ws-edge-events', scopes: ['events'] })).body.token,
      read: (await admin.post('/api/v1/tokens', { name: 'ws-edge-read', scopes: ['read'] })).body.token,
    };
  });
  afterAll(async () => {
    await svc.stop();
  });

  it('answers 400 to an upgrade whose URL does not parse', async () => {
    for (const target of UNPARSEABLE_TARGETS) {
      const answer = await rawExchange(svc.port, upgradeRequest(target, { Authorization: `Bearer ${tokens.events}` }));
      await assertAlive(svc, `an upgrade to ${target}`);
      expect(answer.status, target).toBe(400);
      expect(answer.bytes.toString()).toContain('"invalid_request"');
    }
  });

  it('survives upgrades the client resets at once, with and without a token', async () => {
    for (let i = 0; i < 30; i++) {
      const auth: Record<string, string> = i % 3 === 0 ? {} : { Authorization: `Bearer ${i % 3 === 1 ? tokens.events : 'scs_not-a-token'}` };
      await sendAndReset(svc.port, upgradeRequest(i % 2 ? '/api/v1/events/stream' : '/api/v1/live', auth));
    }
    // Resets land while authentication runs; give them the time to arrive before checking.
    await new Promise<void>((r) => setImmediate(r));
    await assertAlive(svc, '30 upgrades reset at once');
    // and the endpoints still work
    const ok = await rawExchange(svc.port, upgradeRequest('/api/v1/live', { Authorization: `Bearer ${tokens.read}` }), { afterOpen: [frame({ opcode: WS_OPCODES.close, payload: closePayload(1000) })] });
    expect(ok.status).toBe(101);
  });

  for (const endpoint of WS_ENDPOINTS) {
    describe(endpoint.path, () => {
      for (const v of WS_VIOLATIONS) {
        it(`closes on ${v.what} and stays up`, async () => {
          const token = tokens[endpoint.scope];
          const answer = await rawExchange(svc.port, upgradeRequest(endpoint.path, { Authorization: `Bearer ${token}` }), { afterOpen: v.frames(endpoint.maxPayload) });
          await assertAlive(svc, `${v.what} on ${endpoint.path}`);
          expect(answer.status).toBe(101);
          expect(answer.closeCode).toBe(v.closeCode);
        });
      }
    });
  }
});
