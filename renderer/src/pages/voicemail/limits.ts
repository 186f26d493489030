/**
 * The vmail API's documented limits and defaults, as values for the browser. shared/api/vmail.ts
 * has them too, but importing a value from there would bundle TypeBox; the types below make the
 * compiler check that these copies equal the originals.
 */
import type { FOLDERS as SharedFolders, MAILBOX_DEFAULTS as SharedDefaults, MAILBOX_NUMBER_PATTERN as SharedPattern, VMAIL_LIMITS as SharedLimits } from '../../../../shared/api/vmail.js';

export const VMAIL_LIMITS: typeof SharedLimits = {
  uploadBytes: 20 * 1024 * 1024,
  headerBytes: 64 * 1024,
  greetingSeconds: 300,
  maxMessages: 10_000,
  maxMessageSeconds: 3_600,
  retentionDays: 3_650,
  listDefault: 50,
  listMax: 500,
  listMaxOffset: 1_000_000,
  pinFailures: 5,
  pinLockoutSeconds: 15 * 60,
};

export const MAILBOX_DEFAULTS: typeof SharedDefaults = { maxMessages: 100, maxMessageSeconds: 300, retentionDays: 30, notify: 'attach' };

export const MAILBOX_NUMBER_PATTERN: typeof SharedPattern = '^[0-9A-Za-z_-]{1,32}$';

export const FOLDERS: typeof SharedFolders = ['new', 'saved', 'deleted'];
