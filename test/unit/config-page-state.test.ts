import { describe, expect, it } from 'vitest';
import type { Conflict } from '../../shared/api/conflicts.js';
import type { RoleInstance, RolesConfig } from '../../shared/api/roles.js';
import { compareInstances } from '../../renderer/src/pages/configuration/overwritten.js';
import { INITIAL_PAGE_STATE, pageReducer, type EditorState, type PageAction, type PageState } from '../../renderer/src/pages/configuration/pageState.js';
import { formFrom } from '../../renderer/src/pages/configuration/formState.js';
import { ApiError } from '../../renderer/src/api/client.js';

/** The configuration page's state machine (renderer/src/pages/configuration/pageState.ts), driven as the page drives it. */

const instance = (name: string, group: number, domains: string[], roletype: RoleInstance['roletype'] = 'callstore'): RoleInstance => ({
  name,
  roletype,
  iface: 'eth0',
  enabled: true,
  group,
  order: 1,
  include_domains: domains,
  site: 'site-a',
  ext: {},
});
const config = (revision: number, instances: RoleInstance[]): RolesConfig => ({ revision, instances });
const run = (actions: PageAction[], from: PageState = INITIAL_PAGE_STATE): PageState => actions.reduce(pageReducer, from);
const editorOf = (state: PageState, name: string): EditorState => {
  const d = state.draft.find((x) => x.value.name === name);
  if (!d) throw new Error(`no ${name} in the draft`);
  return { key: d.key, origName: d.origName, isNew: false, base: d.value, form: formFrom(d.value, 'site-a'), domainsTouched: false, nameSuggested: false };
};

describe('the configuration page state', () => {
  const first = config(3, [instance('callstore1', 1, ['a.example']), instance('callstore2', 2, ['b.example'])]);

  it('adopts a configuration as the saved one and its draft, at its revision', () => {
    const s = run([{ type: 'adopt', config: first }]);
    expect(s.saved?.revision).toBe(3);
    expect(s.baseRevision).toBe(3);
    expect(s.draft.map((d) => d.value.name)).toEqual(['callstore1', 'callstore2']);
    expect(new Set(s.draft.map((d) => d.key)).size).toBe(2);
  });

  it('removes an instance, and Undo puts it back where it stood with its key; a refused save’s message goes with any change of the draft', () => {
    let s = run([{ type: 'adopt', config: first }, { type: 'saveRefused', message: 'Two instances share a name.' }]);
    expect(s.refused).toBe('Two instances share a name.');
    const [one] = s.draft;
    s = run([{ type: 'remove', key: one!.key }], s);
    expect(s.refused).toBeNull();
    expect(s.draft.map((d) => d.value.name)).toEqual(['callstore2']);
    expect(s.removed?.index).toBe(0);
    s = run([{ type: 'undoRemove' }], s);
    expect(s.draft[0]).toBe(one);
    expect(s.removed).toBeNull();
    // removing what is not there changes nothing
    expect(run([{ type: 'remove', key: 'nope' }], s)).toBe(s);
  });

  it('in the form, a new group number brings that group’s domains until domains are typed; a new role type a new suggested name', () => {
    let s = run([{ type: 'adopt', config: first }]);
    s = run([{ type: 'openEditor', editor: { ...editorOf(s, 'callstore1'), nameSuggested: true } }, { type: 'changeForm', patch: { group: '2' } }], s);
    expect(s.editor?.form.domains).toBe('b.example');
    s = run([{ type: 'changeForm', patch: { roletype: 'vmail' } }], s);
    expect(s.editor?.form.name).toBe('vmail1');
    s = run([{ type: 'changeForm', patch: { domains: 'mine.example' } }, { type: 'changeForm', patch: { group: '1' } }], s);
    expect(s.editor?.form.domains).toBe('mine.example');
    s = run([{ type: 'changeForm', patch: { name: 'front' } }, { type: 'changeForm', patch: { roletype: 'callstore' } }], s);
    expect(s.editor?.form.name).toBe('front');
  });

  it('applies the form to the draft, closes it and marks the row; a save adopts what was saved with the draft’s keys', () => {
    let s = run([{ type: 'adopt', config: first }, { type: 'saveFailed', error: new ApiError(503, 'unavailable', 'later') }]);
    const editor = editorOf(s, 'callstore2');
    const edited = { ...editor.base, order: 2 };
    s = run([{ type: 'openEditor', editor }, { type: 'applyEdit', value: edited }], s);
    expect(s.editor).toBeNull();
    expect(s.flashKey).toBe(editor.key);
    expect(s.draft.find((d) => d.key === editor.key)?.value.order).toBe(2);
    const sent = s.draft;
    s = run([{ type: 'saveStarted' }], s);
    expect(s).toMatchObject({ saving: true, saveError: null, notice: null });
    s = run([{ type: 'saved', config: config(4, sent.map((d) => d.value)), sent, warnings: 1 }, { type: 'saveEnded' }], s);
    expect(s).toMatchObject({ saving: false, baseRevision: 4, notice: { kind: 'saved', revision: 4, warnings: 1 } });
    expect(s.draft.map((d) => d.key)).toEqual(sent.map((d) => d.key));
  });

  it('a conflict: reloading theirs closes it and discards the draft; discard goes back to what is saved', () => {
    const theirs = config(5, [instance('other', 7, ['c.example'])]);
    let s = run([{ type: 'adopt', config: first }, { type: 'conflict', theirs }, { type: 'conflictBusy', busy: 'reload' }]);
    expect(s.conflict?.theirs.revision).toBe(5);
    s = run([{ type: 'reloaded', config: theirs }, { type: 'conflictBusy', busy: null }], s);
    expect(s).toMatchObject({ conflict: null, conflictBusy: null, baseRevision: 5, notice: { kind: 'reloaded', revision: 5 } });
    s = run([{ type: 'remove', key: s.draft[0]!.key }, { type: 'askDiscard', open: true }, { type: 'discard' }], s);
    expect(s).toMatchObject({ confirmDiscard: false, removed: null });
    expect(s.draft.map((d) => d.value.name)).toEqual(['other']);
  });

  it('a restored draft keeps the revision it was made from until it is clean again', () => {
    const base = run([{ type: 'adopt', config: first }]);
    let s = run([{ type: 'restoreDraft', draft: base.draft.slice(1), baseRevision: 2, notice: { kind: 'restored', revision: 3, warnings: 0, base: 2 } }], base);
    expect(s.baseRevision).toBe(2);
    s = run([{ type: 'rebase' }], s);
    expect(s.baseRevision).toBe(3);
    expect(run([{ type: 'rebase' }], s)).toBe(s);
  });
});

describe('the configuration page state: a version overwritten by a concurrent edit on another site', () => {
  const first = config(3, [instance('callstore1', 1, ['a.example'])]);
  const conflictOf = (id: string, instances: RoleInstance[]): Conflict => ({
    id,
    kind: 'config',
    key: 'roles',
    state: 'open',
    overwritten: { hlc: '0000000000000001', writtenAt: '2026-01-01T00:00:00.000Z', origin: 'site-b', siteName: 'branch', deleted: false, body: { revision: 3, instances } },
    overwrittenBy: { hlc: '0000000000000002', writtenAt: '2026-01-01T00:00:01.000Z', origin: 'site-a', siteName: 'main' },
    current: null,
    detectedAt: '2026-01-01T00:00:02.000Z',
    dismissal: null,
  });

  it('shows the newest open conflict and how many there are; none hides the banner; resolving it counts down until the next list', () => {
    const one = conflictOf('a'.repeat(32), [instance('callstore1', 1, ['b.example'])]);
    let s = run([{ type: 'adopt', config: first }, { type: 'overwrittenLoaded', conflicts: [one], total: 2 }]);
    expect(s.overwritten?.id).toBe(one.id);
    expect(s.overwrittenCount).toBe(2);
    s = run([{ type: 'overwrittenResolved', id: 'b'.repeat(32) }], s);
    expect(s.overwritten?.id).toBe(one.id); // another id: not this one
    s = run([{ type: 'overwrittenResolved', id: one.id }], s);
    expect(s.overwritten).toBeNull();
    expect(s.overwrittenCount).toBe(1);
    s = run([{ type: 'overwrittenLoaded', conflicts: [], total: 0 }], s);
    expect(s.overwritten).toBeNull();
    expect(s.overwrittenCount).toBe(0);
  });

  it('an action that failed says so until the next action, and its error does not carry over to another conflict', () => {
    const one = conflictOf('a'.repeat(32), []);
    const error = new ApiError(409, 'conflict', 'The configuration was changed by someone else', []);
    let s = run([{ type: 'overwrittenLoaded', conflicts: [one], total: 1 }, { type: 'overwrittenBusy', busy: 'use' }, { type: 'overwrittenFailed', error }, { type: 'overwrittenBusy', busy: null }]);
    expect(s.overwrittenError).toBe(error);
    // the same conflict listed again keeps the error; another one does not
    s = run([{ type: 'overwrittenLoaded', conflicts: [one], total: 1 }], s);
    expect(s.overwrittenError).toBe(error);
    s = run([{ type: 'overwrittenLoaded', conflicts: [conflictOf('c'.repeat(32), [])], total: 1 }], s);
    expect(s.overwrittenError).toBeNull();
    // a new action clears it
    s = run([{ type: 'overwrittenFailed', error }, { type: 'overwrittenBusy', busy: 'keep' }], s);
    expect(s.overwrittenError).toBeNull();
  });

  it('compareInstances: the instances of both versions by name, those that differ first', () => {
    const now = [instance('callstore1', 1, ['a.example']), instance('vmail1', 1, [], 'vmail'), instance('same1', 5, [])];
    const then = [instance('callstore1', 1, ['b.example']), instance('same1', 5, []), instance('extra1', 7, [])];
    const rows = compareInstances(now, then, 'site-a');
    expect(rows.map((r) => [r.name, r.same, r.current !== undefined, r.overwritten !== undefined])).toEqual([
      ['callstore1', false, true, true],
      ['extra1', false, false, true],
      ['vmail1', false, true, false],
      ['same1', true, true, true],
    ]);
  });
});
