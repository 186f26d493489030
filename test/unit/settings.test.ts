import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOST, DEFAULT_LOG_RETENTION_DAYS, DEFAULT_PAIRING_CODE_TTL_SEC, DEFAULT_PEER_PORT, DEFAULT_PORT, defaultDataDir, loadSettings } from '../../service/config/settings.js';
import { StartupError } from '../../service/errors.js';
import { tempDir } from '../support/service.js';

describe('start-up settings', () => {
  it('has defaults for everything', () => {
    const s = loadSettings([], {});
    expect(s).toEqual({
      host: DEFAULT_HOST,
      port: DEFAULT_PORT,
      dataDir: defaultDataDir({}),
      siteName: undefined,
      adminPassword: undefined,
      logLevel: 'info',
      logRetentionDays: DEFAULT_LOG_RETENTION_DAYS,
      publicUrl: undefined,
      peerHost: undefined,
      peerPort: DEFAULT_PEER_PORT,
      pairingCodeTtlSec: DEFAULT_PAIRING_CODE_TTL_SEC,
    });
    expect(DEFAULT_PAIRING_CODE_TTL_SEC).toBe(600);
    expect(DEFAULT_LOG_RETENTION_DAYS).toBe(30);
  });

  it('takes the public URL of the peer listener as wss:// only, from a flag, the environment or the file', () => {
    expect(loadSettings(['--public-url', 'wss://box.example:8443'], {}).publicUrl).toBe('wss://box.example:8443');
    expect(loadSettings([], { SITECALL_PUBLIC_URL: 'https://box.example' }).publicUrl).toBe('wss://box.example:443');
    expect(() => loadSettings([], { SITECALL_PUBLIC_URL: 'ws://box.example:7443' })).toThrow(/SITECALL_PUBLIC_URL: the peer address must be wss:\/\/ \(TLS\), not ws:\/\//);
    expect(() => loadSettings(['--public-url', 'wss://box.example/sitecall'], {})).toThrow(/--public-url: give only wss:\/\/HOST\[:PORT\]/);
    expect(() => loadSettings(['--public-url', 'not a url'], {})).toThrow(StartupError);
    expect(loadSettings(['--peer-port', '9443', '--peer-host', '0.0.0.0'], {})).toMatchObject({ peerPort: 9443, peerHost: '0.0.0.0' });
    expect(() => loadSettings([], { SITECALL_PAIRING_CODE_TTL_SEC: '601' })).toThrow(/SITECALL_PAIRING_CODE_TTL_SEC/);
  });

  it('lets flags override the environment and the environment override the file', () => {
    const file = join(tempDir(), 's.json');
    writeFileSync(file, JSON.stringify({ host: '0.0.0.0', port: 1000, siteName: 'file', logLevel: 'debug' }));
    const s = loadSettings(['--config', file, '--port', '3000'], { SITECALL_PORT: '2000', SITECALL_SITE_NAME: 'env' });
    expect(s).toMatchObject({ host: '0.0.0.0', port: 3000, siteName: 'env', logLevel: 'debug' });
  });

  it('reads the config file named by SITECALL_CONFIG', () => {
    const file = join(tempDir(), 's.json');
    writeFileSync(file, JSON.stringify({ port: 1234 }));
    expect(loadSettings([], { SITECALL_CONFIG: file }).port).toBe(1234);
  });

  it('ignores empty environment variables', () => {
    expect(loadSettings([], { SITECALL_PORT: '', SITECALL_HOST: '' })).toMatchObject({ host: DEFAULT_HOST, port: DEFAULT_PORT });
  });

  it('follows XDG_DATA_HOME for the default data directory on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(defaultDataDir({ XDG_DATA_HOME: '/srv/x' })).toBe('/srv/x/sitecall');
  });

  it('takes the change log retention in days from each layer, flags first', () => {
    const file = join(tempDir(), 's.json');
    writeFileSync(file, JSON.stringify({ logRetentionDays: 90 }));
    expect(loadSettings(['--config', file], {}).logRetentionDays).toBe(90);
    expect(loadSettings(['--config', file], { SITECALL_LOG_RETENTION_DAYS: '7' }).logRetentionDays).toBe(7);
    expect(loadSettings(['--config', file, '--log-retention-days', '1'], { SITECALL_LOG_RETENTION_DAYS: '7' }).logRetentionDays).toBe(1);
    expect(loadSettings(['--log-retention-days', '3660'], {}).logRetentionDays).toBe(3660);
  });

  it.each([
    [[], { SITECALL_LOG_RETENTION_DAYS: '0' }, 'Invalid setting SITECALL_LOG_RETENTION_DAYS in the environment: must be >= 1.'],
    [['--log-retention-days', '3661'], {}, 'Invalid setting --log-retention-days in the command line: must be <= 3660.'],
    [['--log-retention-days', '1.5'], {}, 'Invalid setting --log-retention-days in the command line: must be integer.'],
    [['--log-retention-days', 'month'], {}, 'Invalid setting --log-retention-days in the command line: must be integer.'],
    [[], { SITECALL_LOG_RETENTION_DAYS: '1e400' }, 'Invalid setting SITECALL_LOG_RETENTION_DAYS in the environment: must be a finite number.'],
  ])('refuses a change log retention of %j %j with one sentence', (argv, env, sentence) => {
    expect(() => loadSettings(argv, env)).toThrow(new StartupError(sentence));
  });

  it('refuses a retention in the config file that is not a whole number of days', () => {
    const file = join(tempDir(), 's.json');
    writeFileSync(file, JSON.stringify({ logRetentionDays: -3 }));
    expect(() => loadSettings(['--config', file], {})).toThrow(new StartupError(`Invalid setting logRetentionDays in the config file ${file}: must be >= 1.`));
  });

  it.each([
    [['--port=-1'], {}, 'Invalid setting --port in the command line: must be >= 0.'],
    [['--port', '-1'], {}, "Option '--port' argument is ambiguous. Run \"sitecall start --help\" for the options."],
    [[], { SITECALL_LOG_LEVEL: 'loud' }, 'Invalid setting SITECALL_LOG_LEVEL in the environment: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent".'],
    [[], { SITECALL_ADMIN_PASSWORD: 'short' }, 'Invalid setting SITECALL_ADMIN_PASSWORD in the environment: must NOT have fewer than 8 characters.'],
    [['--host'], {}, "Option '--host <value>' argument missing. Run \"sitecall start --help\" for the options."],
    [['extra'], {}, "Unexpected argument 'extra'. This command does not take positional arguments. Run \"sitecall start --help\" for the options."],
  ])('refuses %j %j with one sentence', (argv, env, sentence) => {
    expect(() => loadSettings(argv, env)).toThrow(new StartupError(sentence));
  });

  it('refuses a config file that is missing, not JSON or not an object', () => {
    const dir = tempDir();
    expect(() => loadSettings(['--config', join(dir, 'none.json')], {})).toThrow(/Cannot read the config file .*none\.json: ENOENT\./);
    writeFileSync(join(dir, 'bad.json'), '{port: 1}');
    expect(() => loadSettings(['--config', join(dir, 'bad.json')], {})).toThrow(/is not valid JSON/);
    writeFileSync(join(dir, 'list.json'), '[1]');
    expect(() => loadSettings(['--config', join(dir, 'list.json')], {})).toThrow(/it must hold a JSON object/);
  });
});
