import { isAbsolute, relative, resolve, sep } from 'node:path';
import { MAILBOX_NUMBER_PATTERN, MESSAGE_ID_PATTERN } from '../../shared/api/vmail.js';
import { domainProblem, normalizeDomain } from '../config/domains.js';

/**
 * The store's layout and the guard that keeps every path inside it (design section 5: "never
 * outside its root"). Two independent checks, so that a mistake in one is caught by the other:
 * every part of a key is validated strictly (a domain name by the configuration's rules, a mailbox
 * number, a UUID), and the resolved path is checked to sit under the root.
 *
 *   <root>/<domain>/<mailbox>/<message id>.wav
 *   <root>/<domain>/<mailbox>/greetings/<greeting id>.wav
 *   temp files: a leading dot and a .tmp suffix, in the directory of the file they become
 *   <root>/.quarantine/<domain>/<mailbox>/<entry id>.json and <entry id>.data
 *     what the start-up check could not match (quarantine.ts); `.quarantine` is never a domain name
 */

const MAILBOX = new RegExp(MAILBOX_NUMBER_PATTERN);
const UUID = new RegExp(MESSAGE_ID_PATTERN);
export const GREETINGS_DIR = 'greetings';
export const AUDIO_EXT = '.wav';
export const QUARANTINE_DIR = '.quarantine';
const TEMP_FILE = /^\.[0-9a-f-]{36}\.[0-9a-z]{1,16}\.tmp$/;

export class PathError extends Error {
  override name = 'PathError';
}

export function isMailboxNumber(value: string): boolean {
  return MAILBOX.test(value);
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A domain as the store names it (normalized), or undefined when it is not a valid domain name. */
export function storeDomain(value: string): string | undefined {
  const normalized = normalizeDomain(value);
  return domainProblem(normalized) === undefined ? normalized : undefined;
}

function checkParts(domain: string, mailbox: string, id: string): void {
  if (storeDomain(domain) !== domain) throw new PathError(`not a normalized domain name: ${JSON.stringify(domain)}`);
  if (!isMailboxNumber(mailbox)) throw new PathError(`not a mailbox number: ${JSON.stringify(mailbox)}`);
  if (!isUuid(id)) throw new PathError(`not an id: ${JSON.stringify(id)}`);
}

/** The key (relative path, always with `/`) of a message's audio. */
export function messageKey(domain: string, mailbox: string, id: string): string {
  checkParts(domain, mailbox, id);
  return `${domain}/${mailbox}/${id}${AUDIO_EXT}`;
}

export function greetingKey(domain: string, mailbox: string, id: string): string {
  checkParts(domain, mailbox, id);
  return `${domain}/${mailbox}/${GREETINGS_DIR}/${id}${AUDIO_EXT}`;
}

/** Parses a key back into its parts; throws a PathError for anything not made by the two functions above. */
export function parseKey(key: string): { domain: string; mailbox: string; id: string; greeting: boolean } {
  const parts = key.split('/');
  const greeting = parts.length === 4 && parts[2] === GREETINGS_DIR;
  if (parts.length !== 3 && !greeting) throw new PathError(`not a store key: ${JSON.stringify(key)}`);
  const [domain = '', mailbox = ''] = parts;
  const file = parts[parts.length - 1] ?? '';
  if (!file.endsWith(AUDIO_EXT)) throw new PathError(`not a store key: ${JSON.stringify(key)}`);
  const id = file.slice(0, -AUDIO_EXT.length);
  checkParts(domain, mailbox, id);
  return { domain, mailbox, id, greeting };
}

export function isTempName(name: string): boolean {
  return TEMP_FILE.test(name);
}

/** Is `path` strictly inside `root` (both absolute, resolved)? */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..');
}

/** The absolute path of a key under the root, after both checks. */
export function pathOf(root: string, key: string): string {
  parseKey(key);
  const absRoot = resolve(root);
  const path = resolve(absRoot, ...key.split('/'));
  if (!isInside(absRoot, path)) throw new PathError(`the key ${JSON.stringify(key)} resolves outside the store`);
  return path;
}

/** A directory of the layout (a domain's, a mailbox's, or its greetings'), checked the same way. */
export function dirOf(root: string, domain: string, mailbox?: string, greetings = false): string {
  if (storeDomain(domain) !== domain) throw new PathError(`not a normalized domain name: ${JSON.stringify(domain)}`);
  if (mailbox !== undefined && !isMailboxNumber(mailbox)) throw new PathError(`not a mailbox number: ${JSON.stringify(mailbox)}`);
  const absRoot = resolve(root);
  const parts = [domain, ...(mailbox !== undefined ? [mailbox] : []), ...(greetings ? [GREETINGS_DIR] : [])];
  const path = resolve(absRoot, ...parts);
  if (!isInside(absRoot, path)) throw new PathError(`the directory ${parts.join('/')} resolves outside the store`);
  return path;
}

/** The quarantine directory of a mailbox (or of a domain without `mailbox`), checked the same way. */
export function quarantineDirOf(root: string, domain: string, mailbox?: string): string {
  if (storeDomain(domain) !== domain) throw new PathError(`not a normalized domain name: ${JSON.stringify(domain)}`);
  if (mailbox !== undefined && !isMailboxNumber(mailbox)) throw new PathError(`not a mailbox number: ${JSON.stringify(mailbox)}`);
  const absRoot = resolve(root);
  const parts = [QUARANTINE_DIR, domain, ...(mailbox !== undefined ? [mailbox] : [])];
  const path = resolve(absRoot, ...parts);
  if (!isInside(absRoot, path)) throw new PathError(`the directory ${parts.join('/')} resolves outside the store`);
  return path;
}
