import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planResync } from '../../service/callstore/core/resync.js';
import type { SyncDialog } from '../../shared/api/sources.js';

const dialog = (callId: string, state: SyncDialog['state']): SyncDialog => ({ callId, fromTag: 'f', toTag: 't', state, from: 'sip:1@a', to: 'sip:2@a', domain: 'a' });

describe('resync planning', () => {
  it('keeps, reconstructs, ends and drops per caf-call-legs-resync', () => {
    const plan = planResync(
      [
        { callId: 'k', terminated: false },
        { callId: 'gone', terminated: false },
        { callId: 'ended', terminated: true },
      ],
      [dialog('k', 'confirmed'), dialog('new', 'confirmed'), dialog('ring', 'early'), dialog('bye', 'terminating')],
      'reconstruct',
    );
    expect(plan).toEqual({ keep: ['k'], reopen: [], reconstruct: [dialog('new', 'confirmed')], refuse: [], terminate: ['gone'], drop: [dialog('ring', 'early'), dialog('bye', 'terminating')] });
  });

  it('a known dialog listed after it ended: dropped if its source ended it, reopened if the callstore did', () => {
    const plan = planResync(
      [
        { callId: 'bye-seen', terminated: true },
        { callId: 'lost', terminated: true, endedByCallstore: true },
        { callId: 'lost-ringing', terminated: true, endedByCallstore: true },
      ],
      [dialog('bye-seen', 'confirmed'), dialog('lost', 'confirmed'), dialog('lost-ringing', 'early')],
      'refuse',
    );
    expect(plan).toMatchObject({ keep: [], reopen: [dialog('lost', 'confirmed')], drop: [dialog('bye-seen', 'confirmed'), dialog('lost-ringing', 'early')], terminate: [] });
  });

  it('refuses unknown answered dialogs when told to', () => {
    expect(planResync([], [dialog('new', 'confirmed')], 'refuse')).toMatchObject({ reconstruct: [], refuse: [dialog('new', 'confirmed')] });
  });

  it('property: every reported dialog lands in exactly one bucket; every live known dialog is kept or ended', () => {
    const ids = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ callId: ids, terminated: fc.boolean(), endedByCallstore: fc.boolean() }), { selector: (k) => k.callId }),
        fc.uniqueArray(fc.record({ callId: ids, state: fc.constantFrom('early', 'confirmed', 'terminating') as fc.Arbitrary<SyncDialog['state']> }), { selector: (d) => d.callId }),
        fc.constantFrom('reconstruct', 'refuse') as fc.Arbitrary<'reconstruct' | 'refuse'>,
        (known, reported, policy) => {
          const plan = planResync(known, reported.map((r) => dialog(r.callId, r.state)), policy);
          const placed = [...plan.keep, ...[...plan.reopen, ...plan.reconstruct, ...plan.refuse, ...plan.drop].map((d) => d.callId)];
          expect(placed.sort()).toEqual(reported.map((r) => r.callId).sort());
          for (const k of known.filter((k) => !k.terminated)) expect(plan.keep.includes(k.callId) !== plan.terminate.includes(k.callId)).toBe(true);
          // only what the callstore itself ended comes back
          for (const d of plan.reopen) expect(known.find((k) => k.callId === d.callId)).toMatchObject({ terminated: true, endedByCallstore: true });
        },
      ),
    );
  });
});
