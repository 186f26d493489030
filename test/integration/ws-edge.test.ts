import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_LIMITS } from '../../shared/api/events.js';
import { apiClient } from '../support/api.js';
import { assertAlive } from '../support/liveness.js';
import { closePayload, frame, rawExchange, sendAndReset, upgradeRequest, WS_OPCODES } from '../support/raw-ws.js';
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
    for (const target of ['//[', '//[::1', 'http://[', '//a:99999/x']) {
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

  const endpoints = [
    { path: '/api/v1/events/stream', scope: 'events' as const, maxPayload: EVENT_LIMITS.batchBytes },
    { path: '/api/v1/live', scope: 'read' as const, maxPayload: 64 * 1024 },
  ];
  const violations: { what: string; frames: (maxPayload: number) => Buffer[]; closeCode: number }[] = [
    { what: 'a text frame that is not UTF-8', frames: () => [frame({ opcode: WS_OPCODES.text, payload: Buffer.from([0xc0, 0xae, 0xff, 0xfe]) })], closeCode: 1007 },
    { what: 'a message over maxPayload', frames: (max) => [frame({ opcode: WS_OPCODES.text, announcedLength: max + 1 })], closeCode: 1009 },
    {
      what: 'fragments that add up to more than maxPayload',
      frames: (max) => [frame({ opcode: WS_OPCODES.text, fin: false, payload: 'x'.repeat(Math.min(max, 60_000)) }), frame({ opcode: WS_OPCODES.continuation, announcedLength: max })],
      closeCode: 1009,
    },
    { what: 'an unmasked frame', frames: () => [frame({ opcode: WS_OPCODES.text, payload: '{}', mask: false })], closeCode: 1002 },
    { what: 'RSV bits without an extension', frames: () => [frame({ opcode: WS_OPCODES.text, payload: '{}', rsv: 7 })], closeCode: 1002 },
    { what: 'an unknown opcode', frames: () => [frame({ opcode: 0x3, payload: 'x' })], closeCode: 1002 },
    { what: 'a continuation without a start', frames: () => [frame({ opcode: WS_OPCODES.continuation, payload: 'x' })], closeCode: 1002 },
    { what: 'a fragmented ping', frames: () => [frame({ opcode: WS_OPCODES.ping, fin: false, payload: 'x' })], closeCode: 1002 },
    { what: 'a close frame with a bad code', frames: () => [frame({ opcode: WS_OPCODES.close, payload: closePayload(999) })], closeCode: 1002 },
    { what: 'a close frame with a reserved code', frames: () => [frame({ opcode: WS_OPCODES.close, payload: closePayload(1005) })], closeCode: 1002 },
    { what: 'a close frame of one byte', frames: () => [frame({ opcode: WS_OPCODES.close, payload: Buffer.from([3]) })], closeCode: 1002 },
    { what: 'a close reason that is not UTF-8', frames: () => [frame({ opcode: WS_OPCODES.close, payload: Buffer.concat([closePayload(1000), Buffer.from([0xff])]) })], closeCode: 1007 },
  ];

  for (const endpoint of endpoints) {
    describe(endpoint.path, () => {
      for (const v of violations) {
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
