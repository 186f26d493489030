import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dirOf, greetingKey, isInside, messageKey, parseKey, PathError, pathOf, quarantineDirOf, storeDomain } from '../../service/vmail/paths.js';

const ROOT = resolve('/srv/sitecall/vmail');
const ID = '0b4c5a8e-3f1d-4c2b-9a77-1234567890ab';

describe('the store path guard', () => {
  it('lays messages and greetings out by domain and mailbox', () => {
    expect(messageKey('office.example', '1001', ID)).toBe(`office.example/1001/${ID}.wav`);
    expect(greetingKey('office.example', 'sales_2', ID)).toBe(`office.example/sales_2/greetings/${ID}.wav`);
    expect(pathOf(ROOT, `office.example/1001/${ID}.wav`)).toBe(join(ROOT, 'office.example', '1001', `${ID}.wav`));
    expect(parseKey(`office.example/1001/greetings/${ID}.wav`)).toEqual({ domain: 'office.example', mailbox: '1001', id: ID, greeting: true });
  });

  it('normalizes and checks domains like the configuration does', () => {
    expect(storeDomain('Office.Example.')).toBe('office.example');
    for (const bad of ['..', '.', '../etc', 'a/b', 'a\\b', 'a\u0000b', 'a%2Fb', '%2e%2e', 'a..b', '', '-a.com', 'a_b.com']) expect(storeDomain(bad)).toBeUndefined();
  });

  it.each([
    ['a traversal in the domain', '..', '1001', ID],
    ['a traversal in the mailbox', 'office.example', '..', ID],
    ['a slash in the mailbox', 'office.example', '1001/../../x', ID],
    ['a NUL in the mailbox', 'office.example', '10\u000001', ID],
    ['an encoded slash', 'office.example', '10%2F01', ID],
    ['encoded dots', '%2e%2e', '1001', ID],
    ['a backslash', 'office.example', '..\\..', ID],
    ['a domain not normalized', 'Office.example', '1001', ID],
    ['a traversal as the id', 'office.example', '1001', '../../../etc/passwd'],
    ['an upper-case id', 'office.example', '1001', ID.toUpperCase()],
    ['an empty mailbox', 'office.example', '', ID],
    ['a mailbox of 33 characters', 'office.example', 'x'.repeat(33), ID],
  ])('refuses %s', (_what, domain, mailbox, id) => {
    expect(() => messageKey(domain, mailbox, id)).toThrow(PathError);
    expect(() => greetingKey(domain, mailbox, id)).toThrow(PathError);
  });

  it.each([`../x/1001/${ID}.wav`, `office.example/../../${ID}.wav`, `/etc/passwd`, `office.example/1001/greetings/../${ID}.wav`, `office.example/1001/${ID}.wav/..`, `office.example/1001/x/${ID}.wav`, `office.example/1001/${ID}.mp3`, ''])(
    'refuses the crafted key %j',
    (key) => {
      expect(() => pathOf(ROOT, key)).toThrow(PathError);
    },
  );

  it('tells inside from outside, a sibling with the same prefix included', () => {
    expect(isInside(ROOT, join(ROOT, 'a'))).toBe(true);
    expect(isInside(ROOT, ROOT)).toBe(false);
    expect(isInside(ROOT, `${ROOT}-evil/a`)).toBe(false);
    expect(isInside(ROOT, resolve(ROOT, '..', 'a'))).toBe(false);
    expect(() => dirOf(ROOT, 'office.example', '..')).toThrow(PathError);
    expect(dirOf(ROOT, 'office.example', '1001', true)).toBe(join(ROOT, 'office.example', '1001', 'greetings'));
  });

  it('keeps the quarantine beside the domains, under a name no domain can have, and checks its parts', () => {
    expect(quarantineDirOf(ROOT, 'office.example', '1001')).toBe(join(ROOT, '.quarantine', 'office.example', '1001'));
    expect(quarantineDirOf(ROOT, 'office.example')).toBe(join(ROOT, '.quarantine', 'office.example'));
    expect(storeDomain('.quarantine')).toBeUndefined();
    for (const [domain, mailbox] of [['..', '1001'], ['office.example', '..'], ['office.example', '1001/../..'], ['Office.example', '1001'], ['%2e%2e', '1001']] as const) {
      expect(() => quarantineDirOf(ROOT, domain, mailbox)).toThrow(PathError);
    }
  });

  it('never yields a path outside the root, whatever the parts', () => {
    const part = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('..', '.', '/', '%2F', '%2e%2e', '\u0000', 'a/../..', '..\\', 'office.example', '1001', ID));
    fc.assert(
      fc.property(part, part, part, fc.boolean(), (domain, mailbox, id, greeting) => {
        let key: string;
        try {
          key = greeting ? greetingKey(domain, mailbox, id) : messageKey(domain, mailbox, id);
        } catch (err) {
          return err instanceof PathError;
        }
        const path = pathOf(ROOT, key);
        return isInside(ROOT, path) && path.startsWith(`${ROOT}/`) && !path.includes('..');
      }),
      { numRuns: 2000 },
    );
  });
});
