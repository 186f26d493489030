/**
 * The sites page's pure parts (renderer/src/pages/sites/): how a site and its link read, the
 * pairing code's countdown and spending, and the pair form's state machine driven as the page
 * drives it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PairedSite, PeerSite } from '../../shared/api/sites.js';
import { ApiError } from '../../renderer/src/api/client.js';
import { codeStatus, type ShownCode } from '../../renderer/src/pages/sites/pairingCode.js';
import { checkPairInput, fieldOf, INITIAL_PAIR_FORM, pairFormReducer, readyToSend, type PairFormAction, type PairFormState } from '../../renderer/src/pages/sites/pairForm.js';
import { displaySiteId, formatCountdown, formatMs, joinView, lagView, peerChanges, rttText, shortSiteId, spokenCountdown } from '../../renderer/src/pages/sites/siteFormat.js';
import { displaySiteId as serviceDisplaySiteId } from '../../service/sync/identity.js';

/** the reader's number format, as the page uses it (thousands separators differ by locale) */
const nf = new Intl.NumberFormat();
const hexId = fc.stringMatching(/^[0-9a-f]{64}$/);

const peer = (over: Partial<PeerSite> = {}): PeerSite => ({
  id: 'b'.repeat(64),
  name: 'Hillcrest Branch',
  url: 'wss://127.0.0.1:7443',
  joined: false,
  state: 'connected',
  rttMs: 1.2,
  lastError: null,
  pairedAt: '2030-01-01T10:00:30.000Z',
  connectedSince: '2030-01-01T10:00:31.000Z',
  lag: { entries: 0, ms: 0 },
  join: null,
  ...over,
});

describe('how a site reads', () => {
  it('shows the site id in groups of eight, as the service does', () => {
    fc.assert(
      fc.property(hexId, (id) => {
        expect(displaySiteId(id)).toBe(serviceDisplaySiteId(id));
        expect(displaySiteId(id)).toMatch(/^([0-9A-F]{8}-){7}[0-9A-F]{8}$/);
        expect(displaySiteId(id).replaceAll('-', '').toLowerCase()).toBe(id);
        expect(displaySiteId(id).startsWith(shortSiteId(id))).toBe(true);
      }),
    );
  });

  it('reads a round trip or a lag in ms, s or min', () => {
    expect(formatMs(0)).toBe('0 ms');
    expect(formatMs(0.84)).toBe('0.8 ms');
    expect(formatMs(12.4)).toBe('12 ms');
    expect(formatMs(1440)).toBe('1.4 s');
    expect(formatMs(180_000)).toBe('3 min');
    expect(formatMs(-1)).toBe('—');
    expect(formatMs(Number.NaN)).toBe('—');
  });

  it('shows the round trip only while connected', () => {
    expect(rttText(peer({ rttMs: 2.5 }))).toBe('2.5 ms');
    expect(rttText(peer({ state: 'unreachable', rttMs: 2.5 }))).toBe('—');
    expect(rttText(peer({ rttMs: null }))).toBe('—');
  });

  it('reads the lag: unknown without replication, caught up at zero, behind with the age of the oldest entry', () => {
    expect(lagView({ entries: null, ms: null })).toMatchObject({ entries: '—', unknown: true, caughtUp: false });
    expect(lagView({ entries: 0, ms: 0 })).toEqual({ entries: '0 entries', age: '0 ms', caughtUp: true, unknown: false });
    expect(lagView({ entries: 1, ms: 40 })).toMatchObject({ entries: '1 entry', age: '40 ms', caughtUp: false });
    expect(lagView({ entries: 1204, ms: 2300 })).toMatchObject({ entries: `${nf.format(1204)} entries`, age: '2.3 s' });
  });

  it('reads the join: nothing on the site that was joined, adopting, copied of total, synced', () => {
    expect(joinView(null)).toBeNull();
    expect(joinView({ state: 'joining', copied: 0, total: null })).toMatchObject({ label: 'Adopting the installation…', fraction: null });
    expect(joinView({ state: 'joining', copied: 250, total: 1000 })).toMatchObject({ label: `250 of ${nf.format(1000)} entries`, fraction: 0.25 });
    expect(joinView({ state: 'joining', copied: 0, total: 0 })?.fraction).toBe(1);
    expect(joinView({ state: 'synced', copied: 1000, total: 1000 })).toMatchObject({ state: 'synced', label: 'Synced', fraction: 1 });
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e9), (copied, total) => {
        const v = joinView({ state: 'joining', copied, total });
        expect(v?.fraction).toBeGreaterThanOrEqual(0);
        expect(v?.fraction).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('counts down in minutes and seconds, rounding up, never below zero; spoken too', () => {
    expect(formatCountdown(600_000)).toBe('10:00');
    expect(formatCountdown(599_001)).toBe('10:00');
    expect(formatCountdown(599_000)).toBe('9:59');
    expect(formatCountdown(7_000)).toBe('0:07');
    expect(formatCountdown(-5)).toBe('0:00');
    expect(spokenCountdown(252_000)).toBe('4 minutes 12 seconds');
    expect(spokenCountdown(60_000)).toBe('1 minute');
    expect(spokenCountdown(1_000)).toBe('1 second');
    expect(spokenCountdown(0)).toBe('0 seconds');
  });
});

describe('the pairing code shown', () => {
  const issued = Date.parse('2030-01-01T10:00:00.000Z');
  const code: ShownCode = {
    code: 'K7QW-2M9X',
    expiresAt: new Date(issued + 600_000).toISOString(),
    tries: 5,
    url: 'wss://127.0.0.1:7443',
    receivedAt: issued,
    knownPeers: ['c'.repeat(64)],
  };

  it('counts down from its lifetime to expired', () => {
    expect(codeStatus(code, issued, [])).toEqual({ kind: 'valid', msLeft: 600_000, fractionLeft: 1 });
    expect(codeStatus(code, issued + 150_000, [])).toEqual({ kind: 'valid', msLeft: 450_000, fractionLeft: 0.75 });
    expect(codeStatus(code, issued + 600_000, [])).toEqual({ kind: 'expired' });
    expect(codeStatus(code, issued + 700_000, [])).toEqual({ kind: 'expired' });
    expect(codeStatus({ ...code, expiresAt: 'not a date' }, issued, [])).toEqual({ kind: 'expired' });
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 700_000 }), fc.integer({ min: 0, max: 700_000 }), (t1, dt) => {
        const a = codeStatus(code, issued + t1, []);
        const b = codeStatus(code, issued + t1 + dt, []);
        if (a.kind === 'expired') expect(b.kind).toBe('expired');
        if (a.kind === 'valid' && b.kind === 'valid') expect(b.msLeft).toBeLessThanOrEqual(a.msLeft);
      }),
    );
  });

  it('is spent by a site that joined this one after it was shown, not by one listed before, nor by one this site joined', () => {
    const joinedUs = peer({ id: 'b'.repeat(64) });
    expect(codeStatus(code, issued + 1000, [joinedUs])).toEqual({ kind: 'used', peer: joinedUs });
    // spent even after the code's expiry: the pairing was made with it
    expect(codeStatus(code, issued + 900_000, [joinedUs]).kind).toBe('used');
    expect(codeStatus(code, issued + 1000, [peer({ id: 'c'.repeat(64) })]).kind).toBe('valid');
    expect(codeStatus(code, issued + 1000, [peer({ joined: true })]).kind).toBe('valid');
    expect(codeStatus(code, issued + 1000, [peer({ pairedAt: '2029-12-31T09:00:00.000Z' })]).kind).toBe('valid');
  });
});

describe('the pair form', () => {
  const run = (actions: PairFormAction[], from: PairFormState = INITIAL_PAIR_FORM): PairFormState => actions.reduce(pairFormReducer, from);
  const refused = (message: string, path: string, status = 400) => new ApiError(status, status === 409 ? 'conflict' : status === 503 ? 'unavailable' : 'invalid_request', message, [{ path, message: 'x' }]);
  const paired = { ...peer({ joined: true }), adoption: { state: 'adopted', replacedUsers: [], sessionEnded: false, message: 'ok' } } as PairedSite;

  it('says what is missing, and focuses the first field that misses it', () => {
    const s = run([{ type: 'submit' }]);
    expect(Object.keys(s.problems).sort()).toEqual(['code', 'url']);
    expect(s.focus).toBe('url');
    expect(readyToSend(s)).toBe(false);
    const onlyCode = run([{ type: 'edit', field: 'url', value: 'wss://a:7443' }, { type: 'submit' }]);
    expect(Object.keys(onlyCode.problems)).toEqual(['code']);
    expect(onlyCode.focus).toBe('code');
    expect(run([{ type: 'focused' }], onlyCode).focus).toBeNull();
    // typing in a field clears its problem only
    const typed = run([{ type: 'edit', field: 'url', value: ' ' }], s);
    expect(Object.keys(typed.problems)).toEqual(['code']);
    expect(checkPairInput('   ', 'K7QW-2M9X')).toHaveProperty('url');
  });

  it('sends once both are there; a refusal keeps what was typed, marks the field it names and focuses it', () => {
    const ready = run([{ type: 'edit', field: 'url', value: 'wss://a:7443' }, { type: 'edit', field: 'code', value: 'k7qw2m9x' }]);
    expect(readyToSend(ready)).toBe(true);
    const sending = run([{ type: 'submit' }, { type: 'started' }], ready);
    expect(sending.busy).toBe(true);
    expect(readyToSend(sending)).toBe(false);
    // a submit while busy changes nothing
    expect(run([{ type: 'submit' }], sending)).toBe(sending);
    const wrong = run([{ type: 'failed', error: refused('The pairing code is wrong. 4 tries are left.', '/code') }], sending);
    expect(wrong).toMatchObject({ busy: false, url: 'wss://a:7443', code: 'k7qw2m9x', refusalField: 'code', focus: 'code' });
    expect(wrong.refusal?.message).toBe('The pairing code is wrong. 4 tries are left.');
    // an edit clears the refusal
    expect(run([{ type: 'edit', field: 'code', value: 'k7qw2m9y' }], wrong)).toMatchObject({ refusal: null, refusalField: null });
    const unreachable = run([{ type: 'failed', error: refused('Cannot reach the site at wss://a:7443: ECONNREFUSED.', '/url', 503) }], sending);
    expect(unreachable).toMatchObject({ refusalField: 'url', focus: 'url' });
    const network = run([{ type: 'failed', error: new ApiError(0, 'network', 'Cannot reach the Sitecall service.') }], sending);
    expect(network).toMatchObject({ refusalField: null, focus: null });
    expect(network.refusal?.code).toBe('network');
  });

  it('after pairing, empties the code (it is spent) and keeps the address, until the next edit', () => {
    const ready = run([{ type: 'edit', field: 'url', value: 'wss://a:7443' }, { type: 'edit', field: 'code', value: 'k7qw2m9x' }, { type: 'submit' }, { type: 'started' }]);
    const done = run([{ type: 'paired', site: paired }], ready);
    expect(done).toMatchObject({ busy: false, url: 'wss://a:7443', code: '', paired, refusal: null });
    expect(run([{ type: 'dismissPaired' }], done).paired).toBeNull();
    expect(run([{ type: 'edit', field: 'url', value: 'wss://b:7443' }], done).paired).toBeNull();
  });

  it('finds the field of a refusal from its JSON path', () => {
    expect(fieldOf(refused('m', '/url'))).toBe('url');
    expect(fieldOf(refused('m', '/code'))).toBe('code');
    expect(fieldOf(new ApiError(409, 'conflict', 'm', [{ path: '', message: 'x' }, { path: '/url', message: 'y' }]))).toBe('url');
    expect(fieldOf(new ApiError(500, 'internal', 'm'))).toBeNull();
  });
});

describe('what the live region says when the peers change', () => {
  const a = peer({ id: 'a'.repeat(64), name: 'Lakeside Office' });
  const b = peer({ id: 'b'.repeat(64), name: 'Hillcrest Branch' });
  it('says nothing on the first load, then each pairing, change of state, sync and unpairing', () => {
    expect(peerChanges(undefined, [a, b])).toEqual([]);
    expect(peerChanges([a, b], [a, b])).toEqual([]);
    expect(peerChanges([a], [a, b])).toEqual(['Hillcrest Branch is paired with this site.']);
    expect(peerChanges([a, b], [a, { ...b, state: 'unreachable', lastError: 'Cannot reach site Hillcrest Branch: ECONNREFUSED.' }])).toEqual([
      'Hillcrest Branch is unreachable: Cannot reach site Hillcrest Branch: ECONNREFUSED.',
    ]);
    expect(peerChanges([{ ...b, state: 'unreachable' }], [b])).toEqual(['Hillcrest Branch is connected.']);
    expect(peerChanges([{ ...a, join: { state: 'joining', copied: 1, total: 2 } }], [{ ...a, join: { state: 'synced', copied: 2, total: 2 } }])).toEqual(['This site is synced with Lakeside Office.']);
    expect(peerChanges([a, b], [b])).toEqual(['Lakeside Office is no longer paired with this site.']);
  });
});
