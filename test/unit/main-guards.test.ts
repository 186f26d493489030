import { describe, expect, it } from 'vitest';
import {
  fallbackContentSecurityPolicy,
  hasContentSecurityPolicy,
  isAllowedRequest,
  isServiceOrigin,
  isTrustedSender,
  navigationDecision,
  originOf,
} from '../../main/guards.js';
import { connectHost, parseHealthz, resolveSettings, serviceUrlFor, SettingsError } from '../../main/settings.js';

const ORIGIN = 'http://127.0.0.1:7080';

describe('navigationDecision', () => {
  it('keeps the service origin in the app', () => {
    expect(navigationDecision('http://127.0.0.1:7080/', ORIGIN)).toBe('allow');
    expect(navigationDecision('http://127.0.0.1:7080/calls?domain=a.example#top', ORIGIN)).toBe('allow');
    expect(navigationDecision('http://127.0.0.1:7080', ORIGIN)).toBe('allow');
  });

  it('sends other http(s) pages to the system browser', () => {
    expect(navigationDecision('https://www.example.com/help', ORIGIN)).toBe('open-external');
    expect(navigationDecision('http://example.org/', ORIGIN)).toBe('open-external');
  });

  it('never loads other ports, hosts or schemes of the same machine in the app', () => {
    for (const url of [
      'http://127.0.0.1:7081/',
      'http://localhost:7080/',
      'https://127.0.0.1:7080/',
      'http://127.0.0.2:7080/',
      'http://[::1]:7080/',
    ]) {
      expect(navigationDecision(url, ORIGIN), url).not.toBe('allow');
    }
  });

  it('denies file:, javascript:, data:, blob: and other schemes', () => {
    for (const url of [
      'file:///etc/passwd',
      'javascript:alert(1)',
      'JavaScript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'blob:http://127.0.0.1:7080/4b0d1f2a-0000-4000-8000-000000000000',
      'ftp://example.com/x',
      'chrome://settings',
      'devtools://devtools/bundled/inspector.html',
      'mailto:admin@example.com',
      'sitecall://open',
      'about:blank',
    ]) {
      expect(navigationDecision(url, ORIGIN), url).toBe('deny');
    }
  });

  it('denies unparsable URLs and URLs with credentials', () => {
    expect(navigationDecision('', ORIGIN)).toBe('deny');
    expect(navigationDecision('not a url', ORIGIN)).toBe('deny');
    expect(navigationDecision('http://admin:secret@127.0.0.1:7080/', ORIGIN)).toBe('deny');
    expect(navigationDecision('https://user@example.com/', ORIGIN)).toBe('deny');
  });
});

describe('origin checks', () => {
  it('originOf gives the origin of http(s) URLs only', () => {
    expect(originOf('http://127.0.0.1:7080/a/b')).toBe(ORIGIN);
    expect(originOf('https://example.com:443/')).toBe('https://example.com');
    expect(originOf('file:///tmp/x')).toBeNull();
    expect(originOf('data:text/plain,x')).toBeNull();
    expect(originOf('garbage')).toBeNull();
  });

  it('isServiceOrigin matches scheme, host and port exactly', () => {
    expect(isServiceOrigin('http://127.0.0.1:7080/api/v1/cdrs', ORIGIN)).toBe(true);
    expect(isServiceOrigin('http://127.0.0.1:7081/', ORIGIN)).toBe(false);
    expect(isServiceOrigin('http://localhost:7080/', ORIGIN)).toBe(false);
    expect(isServiceOrigin('https://127.0.0.1:7080/', ORIGIN)).toBe(false);
    expect(isServiceOrigin('http://127.0.0.1:7080.evil.example/', ORIGIN)).toBe(false);
    expect(isServiceOrigin('http://127.0.0.1:7080@evil.example/', ORIGIN)).toBe(false);
    expect(isServiceOrigin('file:///', ORIGIN)).toBe(false);
  });

  it('trusts IPC only from a top-level frame on the service origin', () => {
    expect(isTrustedSender({ url: 'http://127.0.0.1:7080/dashboard', parent: null }, ORIGIN)).toBe(true);
    expect(isTrustedSender({ url: 'http://127.0.0.1:7080/dashboard', parent: {} }, ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'https://evil.example/', parent: null }, ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'http://127.0.0.1:9999/', parent: null }, ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'file:///tmp/page.html', parent: null }, ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'about:blank', parent: null }, ORIGIN)).toBe(false);
    expect(isTrustedSender(null, ORIGIN)).toBe(false);
    expect(isTrustedSender(undefined, ORIGIN)).toBe(false);
  });
});

describe('isAllowedRequest', () => {
  it('lets through the service and its WebSocket only', () => {
    expect(isAllowedRequest('http://127.0.0.1:7080/assets/index.js', ORIGIN, 'script')).toBe(true);
    expect(isAllowedRequest('ws://127.0.0.1:7080/api/v1/live', ORIGIN, 'webSocket')).toBe(true);
    expect(isAllowedRequest('wss://127.0.0.1:7080/api/v1/live', ORIGIN, 'webSocket')).toBe(false);
    expect(isAllowedRequest('ws://127.0.0.1:7081/api/v1/live', ORIGIN, 'webSocket')).toBe(false);
    expect(isAllowedRequest('https://cdn.example.com/lib.js', ORIGIN, 'script')).toBe(false);
    expect(isAllowedRequest('http://localhost:7080/', ORIGIN, 'mainFrame')).toBe(false);
    expect(isAllowedRequest('file:///etc/passwd', ORIGIN, 'mainFrame')).toBe(false);
  });

  it('allows data: and blob: as sub-resources, never as documents', () => {
    expect(isAllowedRequest('data:image/png;base64,AAAA', ORIGIN, 'image')).toBe(true);
    expect(isAllowedRequest('blob:http://127.0.0.1:7080/x', ORIGIN, 'media')).toBe(true);
    expect(isAllowedRequest('data:text/html,hi', ORIGIN, 'mainFrame')).toBe(false);
    expect(isAllowedRequest('data:text/html,hi', ORIGIN, 'subFrame')).toBe(false);
  });

  it('keeps the developer tools working', () => {
    expect(isAllowedRequest('devtools://devtools/bundled/inspector.html', ORIGIN, 'mainFrame')).toBe(true);
  });
});

describe('content security policy', () => {
  it('detects an existing policy whatever the header case', () => {
    expect(hasContentSecurityPolicy(undefined)).toBe(false);
    expect(hasContentSecurityPolicy({ 'content-type': ['text/html'] })).toBe(false);
    expect(hasContentSecurityPolicy({ 'Content-Security-Policy': ["default-src 'self'"] })).toBe(true);
    expect(hasContentSecurityPolicy({ 'content-security-policy': "default-src 'self'" })).toBe(true);
  });

  it('the fallback policy allows only the service', () => {
    const csp = fallbackContentSecurityPolicy(ORIGIN);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain('connect-src \'self\' ws://127.0.0.1:7080');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  });
});

describe('settings', () => {
  it('defaults to the service defaults and the profile data dir', () => {
    const settings = resolveSettings({}, { dataDir: '/home/u/.config/Sitecall/data' });
    expect(settings).toMatchObject({
      host: '127.0.0.1',
      port: 7080,
      dataDir: '/home/u/.config/Sitecall/data',
      serviceUrl: 'http://127.0.0.1:7080/',
      serviceOrigin: ORIGIN,
    });
  });

  it('takes host, port and data dir from the environment', () => {
    const settings = resolveSettings(
      { SITECALL_HOST: '0.0.0.0', SITECALL_PORT: '9000', SITECALL_DATA_DIR: '/srv/sitecall' },
      { dataDir: '/unused' },
    );
    expect(settings).toMatchObject({ host: '0.0.0.0', port: 9000, dataDir: '/srv/sitecall', serviceUrl: 'http://127.0.0.1:9000/' });
  });

  it('refuses unusable values with a sentence', () => {
    expect(() => resolveSettings({ SITECALL_PORT: 'http' }, { dataDir: '/d' })).toThrow(SettingsError);
    expect(() => resolveSettings({ SITECALL_PORT: '70000' }, { dataDir: '/d' })).toThrow(/between 1 and 65535/);
    expect(() => resolveSettings({ SITECALL_HOST: 'a/b' }, { dataDir: '/d' })).toThrow(SettingsError);
  });

  it('connects to loopback for a wildcard listen address and brackets IPv6', () => {
    expect(connectHost('0.0.0.0')).toBe('127.0.0.1');
    expect(connectHost('::')).toBe('::1');
    expect(connectHost('[::]')).toBe('::1');
    expect(serviceUrlFor('::1', 7080)).toBe('http://[::1]:7080/');
    expect(serviceUrlFor('pbx.office.lan', 80)).toBe('http://pbx.office.lan/');
  });

  it('recognises a Sitecall health report by its shape', () => {
    expect(parseHealthz({ status: 'ok', site: 'office-a', version: '0.1.0' })).toEqual({ status: 'ok', site: 'office-a', version: '0.1.0' });
    expect(parseHealthz({ status: 'starting', site: { id: 's1', name: 'A' }, version: '0.1.0' })?.status).toBe('starting');
    // A degraded service runs (a part is impaired and says why): the shell attaches to it.
    expect(parseHealthz({ status: 'degraded', site: 'a', version: '1', reasons: [{ component: 'cdr-writer', message: 'x', since: '2026-01-01T00:00:00Z' }] })?.status).toBe('degraded');
    expect(parseHealthz({ status: 'up', site: 'a', version: '1' })).toBeNull();
    expect(parseHealthz({ status: 'ok', version: '1' })).toBeNull();
    expect(parseHealthz({ status: 'ok', site: 'a' })).toBeNull();
    expect(parseHealthz('ok')).toBeNull();
    expect(parseHealthz(null)).toBeNull();
    expect(parseHealthz([])).toBeNull();
  });
});
