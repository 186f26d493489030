#!/usr/bin/env node
// The command-line entry. The service is compiled TypeScript: `npm run build` makes dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/service/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('sitecall: the service is not built yet: run "npm run build" (npm start does it for you).\n');
  process.exit(1);
}
const { main } = await import(entry.href);
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`sitecall: unexpected error: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
