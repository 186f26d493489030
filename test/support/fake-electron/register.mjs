// `node --import ./register.mjs dist/main/main.js`: runs the desktop shell's main process under
// plain Node with `electron` replaced by ./electron.mjs (see test/integration/main-fake-electron.test.ts).
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
