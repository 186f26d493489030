// `node --import ./test/kamailio/ts-register.mjs some.ts`: runs TypeScript sources directly (the
// adapter and the load script in the end-to-end tests), through test/support/ts-hooks.mjs.
import { register } from 'node:module';

register('../support/ts-hooks.mjs', import.meta.url);
