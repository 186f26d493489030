import { describe, expect, it } from 'vitest';
import { isSecretKey, REDACTED, redactForLog, redactSecrets, redactText, restoreSecrets } from '../../service/secrets.js';

const M = REDACTED;
const plainError = (err: Error) => ({ type: err.name, message: err.message, stack: err.stack ?? '' });

describe('what a secret is', () => {
  it('knows secret keys by their words, whatever the case convention', () => {
    for (const k of ['pass', 'password', 'smtpPassword', 'smtp_pass', 'passwd', 'passphrase', 'secret', 'clientSecret', 'secretAccessKey', 'token', 'api_token', 'accessToken', 'apiKey', 'api_key', 'x-api-key', 'privateKey', 'pin', 'newPin', 'authorization', 'Proxy-Authorization', 'cookie', 'set-cookie', 'credentials', 'adminPassword', 'APIKey', 'password_plain']) {
      expect([k, isSecretKey(k)]).toEqual([k, true]);
    }
    for (const k of ['user', 'username', 'host', 'tokenId', 'pinFailures', 'passwordChangedAt', 'bypass', 'key', 'monkey', 'apiVersion', 'spinner', 'pinned', 'compass', 'from']) {
      expect([k, isSecretKey(k)]).toEqual([k, k === 'passwordChangedAt']);
    }
  });
});

describe('redactSecrets', () => {
  it('redacts values under secret keys at any depth, in objects and arrays, and keeps the shape', () => {
    const doc = {
      name: 'vmail1',
      ext: {
        smtp: { host: 'h', user: 'u', pass: 'p1', port: 25, secure: false },
        list: [{ token: 't1' }, [{ deeper: { apiKey: 'k1' } }]],
        credentials: { id: 'AKIA', nested: ['c1', 7, true, null] },
        pin: 1234,
        password: '',
        secret: null,
        hasPin: true,
      },
    };
    expect(redactSecrets(doc)).toEqual({
      name: 'vmail1',
      ext: {
        smtp: { host: 'h', user: 'u', pass: M, port: 25, secure: false },
        list: [{ token: M }, [{ deeper: { apiKey: M } }]],
        credentials: { id: M, nested: [M, M, true, null] },
        pin: M,
        password: '',
        secret: null,
        hasPin: true,
      },
    });
  });

  it('redacts the secrets inside text: URL passwords, our tokens, secret parameters', () => {
    expect(redactSecrets({ url: 'https://user:pw1@host.example/x?a=1&token=t2&b=2' })).toEqual({ url: `https://user:${M}@host.example/x?a=1&token=${M}&b=2` });
    expect(redactText('Bearer sct_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcdefg used')).toBe(`Bearer sct_${M} used`);
    expect(redactText('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc')).toBe(`Authorization: Bearer ${M}`);
    expect(redactText('got scs_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789')).toBe(`got scs_${M}`);
    expect(redactText('body {"user":"a","password":"x y z","n":1}')).toBe(`body {"user":"a","password":"${M}","n":1}`);
    expect(redactText('{ user: \'a\', pass: \'q\' }')).toBe(`{ user: 'a', pass: '${M}' }`);
    expect(redactText('user=a&password=b')).toBe(`user=a&password=${M}`);
    expect(redactText('Unexpected token \'h\', ..."_password":hunter2"... is not valid JSON')).not.toContain('hunter2');
    expect(redactText('Unexpected token \'h\', "hunter2" is not valid JSON')).not.toContain('hunter2');
    expect(redactText('Basic YWRtaW46aHVudGVyMmh1bnRlcjI=')).toBe(`Basic ${M}`);
    // ordinary text stays as it was
    for (const t of ['sip:alice@office.example', 'a=b&c=d', '2026-01-01T10:00:00.000Z', 'Basic rules apply', 'https://host.example/path']) expect(redactText(t)).toBe(t);
  });

  it('returns a value with nothing to redact as it is, without copying', () => {
    const doc = { a: [1, 2, { b: 'c' }], d: { e: 'f' } };
    expect(redactSecrets(doc)).toBe(doc);
  });

  it('does not change the value it was given', () => {
    const doc = { ext: { pass: 'x', list: [{ token: 'y' }] } };
    const copy = structuredClone(doc);
    redactSecrets(doc);
    expect(doc).toEqual(copy);
  });

  it('fails closed on nesting deeper than any accepted document, without exhausting the stack', () => {
    let deep: unknown = { password: 'bottom' };
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const out = JSON.stringify(redactSecrets(deep));
    expect(out).not.toContain('bottom');
    expect(out).toContain(M);
  });

  it('keeps a key named __proto__ as data', () => {
    const doc = JSON.parse('{"__proto__": {"pass": "x"}, "a": 1}') as Record<string, unknown>;
    const out = redactSecrets(doc);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"pass":"${M}"},"a":1}`);
  });
});

describe('restoreSecrets (write-only secrets)', () => {
  const stored = {
    smtp: { user: 'u', pass: 'p1' },
    url: 'https://u:pw@h.example/?token=t',
    list: [{ token: 't1' }, { token: 't2' }],
    credentials: { id: 'AKIA', key: 'k' },
    pin: 1234,
  };

  it('gives back the stored document when what it was shown is sent back', () => {
    const { value, unresolved } = restoreSecrets(redactSecrets(stored), stored);
    expect(value).toEqual(stored);
    expect(unresolved).toEqual([]);
  });

  it('takes a new secret, and keeps the others', () => {
    const sent = redactSecrets(stored) as typeof stored;
    const { value } = restoreSecrets({ ...sent, smtp: { ...sent.smtp, pass: 'new' } }, stored);
    expect(value).toEqual({ ...stored, smtp: { user: 'u', pass: 'new' } });
  });

  it('keeps a changed URL as sent, and names the places where a mark had nothing to restore', () => {
    const sent = { ...(redactSecrets(stored) as typeof stored), url: `https://u:${M}@other.example/`, extra: { password: M } };
    const { value, unresolved } = restoreSecrets(sent, stored);
    expect((value as typeof sent).url).toBe(`https://u:${M}@other.example/`);
    expect(unresolved).toEqual(['/url', '/extra/password']);
  });

  it('restores what was cut for depth, counted from the root of the document that was shown', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 70; i++) deep = { d: deep };
    const config = { instances: [{ name: 'a', ext: { deep } }] };
    const shown = redactSecrets(config);
    expect(JSON.stringify(shown)).not.toContain('bottom');
    const { value, unresolved } = restoreSecrets(shown.instances[0]?.ext, config.instances[0]?.ext, 3);
    expect(value).toEqual(config.instances[0]?.ext);
    expect(unresolved).toEqual([]);
  });

  it('restores by position in lists, and nothing where the stored value differs in kind', () => {
    const { value, unresolved } = restoreSecrets({ list: [{ token: M }, { token: 'changed' }, { token: M }] }, stored);
    expect(value).toEqual({ list: [{ token: 't1' }, { token: 'changed' }, { token: M }] });
    expect(unresolved).toEqual(['/list/2/token']);
  });
});

describe('redactForLog', () => {
  it('redacts at any depth and makes errors plain, their messages redacted', () => {
    const err = Object.assign(new Error('connect to https://u:pw9@db.example failed'), { code: 'ECONN', config: { auth: { password: 'p9' } } });
    const out = redactForLog({ a: { b: { c: { password: 'p' } } }, err }, plainError);
    const text = JSON.stringify(out);
    expect(text).not.toContain('pw9');
    expect(text).not.toContain('"p"');
    expect(text).toContain(`https://u:${M}@db.example`);
  });

  it('is bounded: a huge or deep object is cut, quickly, and its secrets never shown', () => {
    const wide = Array.from({ length: 200_000 }, (_, i) => ({ i, pass: `s${i}` }));
    let deep: unknown = { password: 'bottom' };
    for (let i = 0; i < 100_000; i++) deep = { next: deep };
    const started = performance.now();
    const outWide = JSON.stringify(redactForLog({ wide }, plainError));
    const outDeep = JSON.stringify(redactForLog({ deep }, plainError));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(outWide.length).toBeLessThan(200_000);
    expect(outWide).toContain('[truncated]');
    expect(outDeep).toContain('[too deep]');
    expect(outWide + outDeep).not.toMatch(/"s\d+"|bottom/);
  });

  it('copes with circular structures', () => {
    const a: Record<string, unknown> = { pass: 'x' };
    a['self'] = a;
    expect(JSON.stringify(redactForLog(a, plainError))).toBe(`{"pass":"${M}","self":"[Circular]"}`);
  });
});
