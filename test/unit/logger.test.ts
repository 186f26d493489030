import { describe, expect, it } from 'vitest';
import { createLogger } from '../../service/logger.js';

/** A logger writing into a list, one parsed JSON line per entry. */
function capture(level: 'debug' | 'info' = 'debug') {
  const lines: string[] = [];
  const log = createLogger(level, { write: (s: string) => void lines.push(s) });
  return { log, lines, text: () => lines.join('') };
}

describe('the service logger', () => {
  it('redacts secrets at any depth, in objects and arrays, and in child bindings', () => {
    const { log, lines, text } = capture();
    log.info({ smtp: { pass: 'one-level-secret' }, config: { instances: [{ ext: { smtp: { pass: 'deep-secret' } } }] }, list: [[{ token: 'array-secret' }]], headers: { authorization: 'Bearer sct_abcdefghijklmnopqrstuvwxyz0123456789' } }, 'saved');
    log.child({ upstream: { auth: { password: 'binding-secret' } } }).child({ reqId: 'r1', token: 'grandchild-secret' }).info('child');
    expect(lines).toHaveLength(2);
    // a grandchild keeps the bindings of its parent
    expect(JSON.parse(lines[1] as string)).toMatchObject({ upstream: { auth: { password: '********' } }, reqId: 'r1', token: '********' });
    const out = text();
    for (const s of ['one-level-secret', 'deep-secret', 'array-secret', 'abcdefghijklmnop', 'binding-secret', 'grandchild-secret']) expect(out).not.toContain(s);
    expect(out).toContain('"pass":"********"');
    expect(JSON.parse(text().split('\n')[0] as string)).toMatchObject({ msg: 'saved', config: { instances: [{ ext: { smtp: { pass: '********' } } }] } });
  });

  it('keeps an error readable while its message, stack and fields lose their secrets', () => {
    const { log, lines } = capture();
    const cause = new Error('login to smtp://vmail:cause-secret@mail.example refused');
    const err = Object.assign(new Error('Request cannot be constructed from a URL that includes credentials: https://admin:url-secret@peer.example/api', { cause }), {
      code: 'ERR_INVALID_URL',
      request: { body: '{"username":"admin","password":"body-secret"}', headers: { cookie: 'sid=cookie-secret' } },
    });
    log.error({ err }, 'peer unreachable');
    log.error(err);
    log.warn({ failure: err }, 'under another key');
    expect(lines).toHaveLength(3);
    const out = lines.join('');
    for (const s of ['cause-secret', 'url-secret', 'body-secret', 'cookie-secret']) expect(out).not.toContain(s);
    const first = JSON.parse(lines[0] as string);
    expect(first.err).toMatchObject({ type: 'Error', code: 'ERR_INVALID_URL', message: expect.stringContaining('https://admin:********@peer.example/api') });
    expect(first.err.stack).toContain('peer.example');
    const second = JSON.parse(lines[1] as string);
    expect(second.msg).toContain('https://admin:********@peer.example/api');
    expect(JSON.parse(lines[2] as string).failure.type).toBe('Error');
  });

  it('redacts a secret in the message text and in a logged URL', () => {
    const { log, lines, text } = capture();
    log.info({ url: '/api/v1/status?token=sct_querytokensecret0123456789' }, 'request');
    log.info('connecting to https://u:msg-secret@host.example');
    expect(lines).toHaveLength(2);
    expect(text()).not.toMatch(/querytokensecret|msg-secret/);
  });

  it('stays quick on a huge or deeply nested object, and writes it cut', () => {
    const { log, lines } = capture();
    let deep: Record<string, unknown> = { password: 'bottom-secret' };
    for (let i = 0; i < 50_000; i++) deep = { next: deep };
    const wide = Array.from({ length: 200_000 }, (_, i) => ({ i, pass: `wide-secret-${i}` }));
    const started = performance.now();
    log.info({ deep, wide }, 'huge');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(lines).toHaveLength(1);
    expect((lines[0] as string).length).toBeLessThan(200_000);
    expect(lines[0]).not.toMatch(/bottom-secret|wide-secret/);
  });

  it('does not walk what a disabled level would have logged', () => {
    const { log, lines } = capture('info');
    let walked = false;
    const spy = { get pass() {
      walked = true;
      return 'x';
    } };
    log.debug({ spy }, 'not written');
    expect(walked).toBe(false);
    expect(lines).toEqual([]);
  });
});
