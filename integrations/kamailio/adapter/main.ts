#!/usr/bin/env node
/**
 * The Sitecall Kamailio adapter: `node dist/integrations/kamailio/adapter/main.js [flags]`
 * (flags and environment: see config.ts or --help). Runs until SIGTERM/SIGINT.
 */
import { Adapter } from './adapter.js';
import { ConfigError, parseConfig, usage } from './config.js';
import { createLogger } from './log.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  let cfg;
  try {
    cfg = parseConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sitecall-kamailio-adapter: ${err.message}\n${usage()}`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(cfg.logLevel, { source: cfg.source });
  const adapter = new Adapter(cfg, log);
  adapter.start();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info('signal received', { signal });
      resolve();
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  await adapter.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sitecall-kamailio-adapter: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
