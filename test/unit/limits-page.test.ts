/**
 * The limits page's pure parts (renderer/src/pages/limits/): the draft (what the console checks,
 * the body it sends, a refusal's paths mapped onto the fields), the page's reducer driven as the
 * page drives it (open, edit, submit, a 400, a 409 with its duplicate, saved; delete confirmed,
 * refused, already gone), and a limit against the counts (one value, each value, total; under,
 * at, over; the age of a remote list).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Limit, ProfileCounts, ProfileRow } from '../../shared/api/limits.js';
import { ApiError } from '../../renderer/src/api/client.js';
import { ageNow, countsOf, fillOf, formatAge, knownProfiles, standingOf, standingOfCounts, valueText } from '../../renderer/src/pages/limits/limitCounts.js';
import {
  checkDraft,
  draftFrom,
  duplicateOf,
  EMPTY_DRAFT,
  fieldOfPath,
  inputFrom,
  LIMIT_FIELDS,
  messagesOf,
  sentence,
  unchanged,
  type LimitDraft,
} from '../../renderer/src/pages/limits/limitDraft.js';
import { INITIAL_LIMITS_STATE, limitsReducer, readyToSave, ruleName, type LimitsAction, type LimitsPageState } from '../../renderer/src/pages/limits/limitsState.js';

const limit = (over: Partial<Limit> = {}): Limit => ({
  id: 'l1',
  profile: 'trunk',
  value: 'sip1',
  max: 30,
  description: 'the shared trunk',
  createdAt: '2030-01-01T10:00:00.000Z',
  updatedAt: '2030-01-01T10:00:00.000Z',
  ...over,
});

const row = (name: string, value: string | null, local: number, remote: { site: string; count: number }[] = [], reserved = 0): ProfileRow => ({
  name,
  value,
  local,
  reserved,
  remote: remote.map((r) => ({ ...r, name: null, ageMs: 500 })),
  count: local + remote.reduce((s, r) => s + r.count, 0),
});

const counts = (items: ProfileRow[]): ProfileCounts => ({ synced: true, sites: [], items });

const draft = (over: Partial<LimitDraft> = {}): LimitDraft => ({ ...EMPTY_DRAFT, profile: 'trunk', value: 'sip1', max: '30', ...over });

function run(actions: LimitsAction[], from: LimitsPageState = INITIAL_LIMITS_STATE): LimitsPageState {
  return actions.reduce(limitsReducer, from);
}

describe('the limit draft', () => {
  it('says only what is missing or no number at all; the rest is the service’s to judge', () => {
    expect(checkDraft(EMPTY_DRAFT)).toEqual({ profile: expect.any(String), value: expect.any(String), max: expect.any(String) });
    expect(checkDraft(draft())).toEqual({});
    expect(checkDraft(draft({ max: 'thirty' })).max).toMatch(/whole number/);
    // a negative, fractional or huge max goes out: the service's sentence then shows at the field
    for (const max of ['-1', '1.5', '2000000', ' 7 ', '+3', '.5']) expect(checkDraft(draft({ max })), max).toEqual({});
    // each value, or `total`: no value is asked for
    expect(checkDraft(draft({ scope: 'each', value: '' }))).toEqual({});
    expect(checkDraft(draft({ profile: 'total', scope: 'one', value: '' }))).toEqual({});
    expect(checkDraft(draft({ profile: 'domain', value: ' ' })).value).toMatch(/domain/);
  });

  it('sends the trimmed fields; each value and total as null; an empty description as null', () => {
    expect(inputFrom(draft({ profile: ' trunk ', value: ' sip1 ', max: ' 30 ', description: '  ' }))).toEqual({ profile: 'trunk', value: 'sip1', max: 30, description: null });
    expect(inputFrom(draft({ scope: 'each', value: 'kept as typed, not sent' })).value).toBeNull();
    expect(inputFrom(draft({ profile: 'total', scope: 'one', value: 'x' })).value).toBeNull();
    expect(inputFrom(draft({ max: '-1' })).max).toBe(-1);
  });

  it('round-trips a limit through the form, and sees when nothing changed', () => {
    fc.assert(
      fc.property(
        fc.record({
          profile: fc.stringMatching(/^[a-z][a-z0-9_-]{0,20}$/).filter((p) => p !== 'total'),
          value: fc.option(fc.stringMatching(/^[a-z0-9.]{1,20}$/), { nil: null }),
          max: fc.integer({ min: 0, max: 1_000_000 }),
          description: fc.option(fc.stringMatching(/^[a-z]( ?[a-z]){0,20}$/), { nil: null }),
        }),
        (r) => {
          const l = limit(r);
          const d = draftFrom(l);
          expect(checkDraft(d)).toEqual({});
          expect(inputFrom(d)).toEqual({ profile: r.profile, value: r.value, max: r.max, description: r.description });
          expect(unchanged(d, l)).toBe(true);
          expect(unchanged({ ...d, max: String(r.max + 1) }, l)).toBe(false);
        },
      ),
    );
  });

  it('maps a refusal’s JSON paths onto the fields, as sentences; other paths stay apart', () => {
    expect(fieldOfPath('/max')).toBe('max');
    expect(fieldOfPath('/value')).toBe('value');
    expect(fieldOfPath('/description/0')).toBe('description');
    expect(fieldOfPath('/colour')).toBeNull();
    expect(fieldOfPath('/')).toBeNull();
    expect(sentence('must be >= 0')).toBe('Must be >= 0.');
    expect(sentence('Already one.')).toBe('Already one.');
    const { fields, other } = messagesOf([
      { path: '/max', message: 'must be >= 0' },
      { path: '/max', message: 'must be integer' },
      { path: '/colour', message: 'is not a known field' },
    ]);
    expect(fields).toEqual({ max: 'Must be >= 0. Must be integer.' });
    expect(other).toEqual(['/colour is not a known field']);
  });

  it('finds the limit a 409 is about: same profile and value, a domain compared as the service does', () => {
    const list = [limit(), limit({ id: 'd1', profile: 'domain', value: 'office.example' }), limit({ id: 'd2', profile: 'domain', value: null })];
    expect(duplicateOf(draft(), list, null)?.id).toBe('l1');
    expect(duplicateOf(draft(), list, 'l1')).toBeNull();
    expect(duplicateOf(draft({ profile: 'domain', value: 'Office.Example.' }), list, null)?.id).toBe('d1');
    expect(duplicateOf(draft({ profile: 'domain', scope: 'each' }), list, null)?.id).toBe('d2');
    expect(duplicateOf(draft({ value: 'sip2' }), list, null)).toBeNull();
  });
});

describe('the page’s reducer', () => {
  const refusal = (status: number, details: { path: string; message: string }[], message = 'refused') =>
    new ApiError(status, status === 409 ? 'conflict' : status === 404 ? 'not_found' : 'invalid_request', message, details);

  it('a new limit: the check on submit, an edit clears its own field, a 400 at its field, then saved', () => {
    let s = run([{ type: 'open', limit: null }, { type: 'submit' }]);
    expect(s.editor?.problems).toEqual(checkDraft(EMPTY_DRAFT));
    expect(s.editor?.focus).toBe('profile');
    s = run([{ type: 'focused' }, { type: 'edit', change: { profile: 'trunk' } }], s);
    expect(s.editor?.focus).toBeNull();
    expect(Object.keys(s.editor?.problems ?? {})).toEqual(['value', 'max']);
    s = run([{ type: 'edit', change: { value: 'sip1', max: '-1' } }, { type: 'submit' }], s);
    expect(s.editor && readyToSave(s.editor)).toBe(true);
    s = run([{ type: 'started' }], s);
    expect(s.editor?.busy).toBe(true);
    expect(s.editor && readyToSave(s.editor)).toBe(false);
    // the form does not close while its request runs
    expect(run([{ type: 'close' }], s).editor).not.toBeNull();
    s = run([{ type: 'failed', error: refusal(400, [{ path: '/max', message: 'must be >= 0' }]), limits: [] }], s);
    expect(s.editor).toMatchObject({ busy: false, refused: { max: 'Must be >= 0.' }, focus: 'max' });
    // typing in another field keeps the max's message; typing in the max clears it
    s = run([{ type: 'edit', change: { description: 'x' } }], s);
    expect(s.editor?.refused).toEqual({ max: 'Must be >= 0.' });
    expect(s.editor?.refusal).toBeNull();
    s = run([{ type: 'edit', change: { max: '3' } }], s);
    expect(s.editor?.refused).toEqual({});
    s = run([{ type: 'submit' }, { type: 'started' }, { type: 'saved', limit: limit({ max: 3 }), created: true }], s);
    expect(s.editor).toBeNull();
    expect(s.notice).toBe('Added the limit trunk = sip1: at most 3 calls at once.');
  });

  it('a 409 names the duplicate from the list; changing the value ends it; the scope carries the value’s messages', () => {
    const other = limit({ id: 'l2', value: 'sip2', max: 10 });
    let s = run([{ type: 'open', limit: limit() }, { type: 'edit', change: { value: 'sip2' } }, { type: 'submit' }, { type: 'started' }]);
    s = run([{ type: 'failed', error: refusal(409, [{ path: '/value', message: 'a limit for profile "trunk" with value "sip2" exists already (id l2)' }]), limits: [limit(), other] }], s);
    expect(s.editor?.duplicate?.id).toBe('l2');
    expect(s.editor?.refused.value).toMatch(/^A limit for profile "trunk"/);
    expect(s.editor?.focus).toBe('value');
    const keptOnMax = run([{ type: 'edit', change: { max: '9' } }], s);
    expect(keptOnMax.editor?.duplicate?.id).toBe('l2');
    const scoped = run([{ type: 'edit', change: { scope: 'each' } }], s);
    expect(scoped.editor?.duplicate).toBeNull();
    expect(scoped.editor?.refused).toEqual({});
    // "Edit the existing limit" opens that one
    expect(run([{ type: 'open', limit: other }], s).editor).toMatchObject({ id: 'l2', draft: { value: 'sip2', max: '10' } });
  });

  it('delete: confirmed, refused with its error, or already gone; the form of a deleted limit closes', () => {
    const l = limit();
    let s = run([{ type: 'open', limit: l }, { type: 'askDelete', limit: l }, { type: 'deleteStarted' }]);
    expect(run([{ type: 'cancelDelete' }], s).deleting).not.toBeNull();
    const failed = run([{ type: 'deleteFailed', error: refusal(503, [], 'try later') }], s);
    expect(failed).toMatchObject({ deleteBusy: false, deleteError: { message: 'try later' } });
    expect(run([{ type: 'cancelDelete' }], failed)).toMatchObject({ deleting: null, deleteError: null });
    s = run([{ type: 'deleted', alreadyGone: false }], s);
    expect(s).toMatchObject({ deleting: null, editor: null, notice: expect.stringMatching(/^Deleted the limit trunk = sip1/) });
    expect(run([{ type: 'askDelete', limit: l }, { type: 'deleted', alreadyGone: true }]).notice).toMatch(/deleted already/);
    // nothing to delete: deleted is ignored
    expect(run([{ type: 'deleted', alreadyGone: false }])).toEqual(INITIAL_LIMITS_STATE);
  });

  it('after any edits, a submit finds what checkDraft finds, and a failure’s field messages are its details’', () => {
    const field = fc.constantFrom(...LIMIT_FIELDS);
    const edit = fc.record({ field: fc.constantFrom('profile', 'value', 'max', 'description', 'scope' as const), text: fc.string({ maxLength: 6 }) });
    fc.assert(
      fc.property(fc.array(edit, { maxLength: 12 }), fc.array(fc.record({ path: field.map((f) => `/${f}`), message: fc.stringMatching(/^[a-z ]{1,12}$/) }), { maxLength: 4 }), (edits, details) => {
        let s = run([{ type: 'open', limit: null }]);
        for (const e of edits) {
          const change: Partial<LimitDraft> = e.field === 'scope' ? { scope: e.text.length % 2 ? 'one' : 'each' } : { [e.field]: e.text };
          s = limitsReducer(s, { type: 'edit', change });
        }
        const d = s.editor?.draft as LimitDraft;
        s = limitsReducer(s, { type: 'submit' });
        expect(s.editor?.problems).toEqual(checkDraft(d));
        s = limitsReducer(s, { type: 'failed', error: refusal(400, details), limits: [] });
        expect(s.editor?.refused).toEqual(messagesOf(details).fields);
        expect(s.editor?.focus ?? null).toBe(LIMIT_FIELDS.find((f) => details.some((x) => x.path === `/${f}`)) ?? null);
      }),
    );
  });

  it('names rules in sentences', () => {
    expect(ruleName(limit())).toBe('trunk = sip1');
    expect(ruleName(limit({ profile: 'domain', value: null }))).toBe('domain (each value)');
    expect(ruleName(limit({ profile: 'total', value: null }))).toBe('total');
  });
});

describe('a limit against the counts', () => {
  it('one value: local plus remote, 0 when not listed; under, at, over', () => {
    const c = counts([row('trunk', 'sip1', 2, [{ site: 'b', count: 1 }]), row('trunk', 'sip2', 5)]);
    expect(countsOf(limit({ max: 4 }), c)).toEqual({ kind: 'one', count: { value: 'sip1', count: 3, local: 2, remote: 1, standing: 'under' } });
    expect(standingOfCounts(countsOf(limit({ max: 3 }), c))).toBe('at');
    expect(standingOfCounts(countsOf(limit({ max: 2 }), c))).toBe('over');
    expect(countsOf(limit({ value: 'sip9', max: 1 }), c)).toEqual({ kind: 'one', count: { value: 'sip9', count: 0, local: 0, remote: 0, standing: 'under' } });
    // a max of 0 admits none: at the limit with no call up
    expect(standingOfCounts(countsOf(limit({ value: 'sip9', max: 0 }), c))).toBe('at');
  });

  it('each value: the values counted, fullest first, the worst standing; total is one count', () => {
    const c = counts([row('total', null, 9), row('domain', 'a.example', 2), row('domain', 'b.example', 4, [{ site: 's', count: 1 }]), row('domain', 'c.example', 0, [], 0), row('user', null, 1)]);
    const each = countsOf(limit({ profile: 'domain', value: null, max: 5 }), c);
    expect(each.kind).toBe('each');
    if (each.kind !== 'each') return;
    expect(each.values.map((v) => [v.value, v.count, v.standing])).toEqual([
      ['b.example', 5, 'at'],
      ['a.example', 2, 'under'],
    ]);
    expect(each.standing).toBe('at');
    expect(countsOf(limit({ profile: 'domain', value: null, max: 1 }), c)).toMatchObject({ standing: 'over' });
    expect(countsOf(limit({ profile: 'nobody', value: null, max: 1 }), c)).toEqual({ kind: 'each', values: [], standing: 'under' });
    expect(countsOf(limit({ profile: 'user', value: null, max: 1 }), c)).toMatchObject({ values: [{ value: null, count: 1, standing: 'at' }] });
    expect(countsOf(limit({ profile: 'total', value: null, max: 10 }), c)).toMatchObject({ kind: 'one', count: { count: 9, standing: 'under' } });
  });

  it('the standing is by count against max alone', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.nat(100), (count, max) => {
        const s = standingOf(count, max);
        expect(s === 'under').toBe(count < max);
        expect(s === 'at').toBe(count === max);
        const f = fillOf(count, max);
        expect(f).toBeGreaterThanOrEqual(0);
        expect(f).toBeLessThanOrEqual(1);
        if (s !== 'under') expect(f).toBe(1);
      }),
    );
  });

  it('a remote list ages from when the counts arrived', () => {
    expect(ageNow(1500, 10_000, 12_000)).toBe(3500);
    expect(ageNow(1500, 10_000, 9_000)).toBe(1500);
    expect(formatAge(400)).toBe('just now');
    expect(formatAge(3500)).toBe('3 s ago');
    expect(formatAge(125_000)).toBe('2 min ago');
    expect(formatAge(3_725_000)).toBe('1 h 2 min ago');
  });

  it('reads values and knows the profile names', () => {
    expect(valueText('total', null)).toBe('all calls');
    expect(valueText('vip', null)).toBe('(no value)');
    expect(valueText('trunk', 'sip1')).toBe('sip1');
    expect(knownProfiles(counts([row('trunk', 'sip1', 1), row('total', null, 1)]), [limit({ profile: 'user' })])).toEqual(['total', 'domain', 'trunk', 'user']);
  });
});
