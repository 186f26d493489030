import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../integrations/kamailio/adapter/config.js';
import { comparePositions, isoOf, KamMessageError, parseKamMessage, toCallEvent, type KamEvent } from '../../integrations/kamailio/adapter/kamailio.js';
import { encodeNetstring, NetstringDecoder, NetstringError } from '../../integrations/kamailio/adapter/netstring.js';
import { OutboundQueue, type QueueItem } from '../../integrations/kamailio/adapter/queue.js';
import { SeqState } from '../../integrations/kamailio/adapter/seq-state.js';
import { dialogsOfRpc, parseDialogsReply, parseSnapshot, toSyncDialogs, type KamDialog } from '../../integrations/kamailio/adapter/snapshot.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'sitecall-adapter-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('netstring decoder (evapi framing)', () => {
  it('decodes one frame, several frames in one chunk, and frames cut anywhere', () => {
    const d = new NetstringDecoder();
    expect(d.push(Buffer.from('5:hello,')).map(String)).toEqual(['hello']);
    expect(d.push(Buffer.from('1:a,2:bc,0:,')).map(String)).toEqual(['a', 'bc', '']);
    const wire = Buffer.from('10:{"k":"ev"},3:xyz,');
    const out: string[] = [];
    for (const byte of wire) out.push(...d.push(Buffer.from([byte])).map(String));
    expect(out).toEqual(['{"k":"ev"}', 'xyz']);
    expect(d.pending).toBe(0);
  });

  it('counts the length in bytes, not characters', () => {
    const payload = '{"from":"sip:Zoë@büro.example"}';
    const wire = encodeNetstring(payload);
    expect(wire.toString('latin1').startsWith(`${Buffer.byteLength(payload)}:`)).toBe(true);
    expect(new NetstringDecoder().push(wire).map((b) => b.toString('utf8'))).toEqual([payload]);
  });

  it('refuses a bad length, a missing comma, an oversized frame and a stream without framing', () => {
    expect(() => new NetstringDecoder().push(Buffer.from('x1:a,'))).toThrow(NetstringError);
    expect(() => new NetstringDecoder().push(Buffer.from('3:abc;'))).toThrow(/not closed by ","/);
    expect(() => new NetstringDecoder(10).push(Buffer.from('11:'))).toThrow(/over the 10 byte limit/);
    expect(() => new NetstringDecoder().push(Buffer.from('{"this is json without a length": 1}'))).toThrow(NetstringError);
    // a partial length is waited for, not refused
    const d = new NetstringDecoder();
    expect(d.push(Buffer.from('12'))).toEqual([]);
    expect(d.push(Buffer.from(':hello world!,')).map(String)).toEqual(['hello world!']);
  });

  it('gives back exactly the payloads sent, however the stream is cut (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 80 }), { maxLength: 20 }), fc.array(fc.nat(60), { maxLength: 30 }), (payloads, cuts) => {
        const wire = Buffer.concat(payloads.map((p) => encodeNetstring(p)));
        const d = new NetstringDecoder();
        const out: string[] = [];
        let at = 0;
        for (const c of cuts) {
          const next = Math.min(wire.length, at + c);
          out.push(...d.push(wire.subarray(at, next)).map((b) => b.toString('utf8')));
          at = next;
        }
        out.push(...d.push(wire.subarray(at)).map((b) => b.toString('utf8')));
        expect(out).toEqual(payloads);
      }),
    );
  });
});

describe('Kamailio messages → contract events', () => {
  // as the shipped kamailio.cfg emits them (seen on a real Kamailio 5.6.3)
  const invite =
    '{"tvu": 29580, "tvs": 1795416010, "kseq": 1, "kboot": "1795416009506", "k": "ev", "domain": "office.example", "to": "sip:service@127.0.0.1:25070", "from": "sip:sipp@127.0.0.1:25080", "fromTag": "25125SIPpTag001", "callId": "1-25125@127.0.0.1", "type": "invite"}';
  const progress = '{"tvu": 31381, "tvs": 1795416010, "kseq": 2, "kboot": "1795416009506", "k": "ev", "reason": "Ringing", "code": 180, "toTag": "25123SIPpTag011", "fromTag": "25125SIPpTag001", "callId": "1-25125@127.0.0.1", "type": "progress"}';
  const end = '{"tvu": 541448, "tvs": 1795416010, "kseq": 7, "kboot": "1795416009506", "k": "ev", "by": "caller", "toTag": "", "fromTag": "25125SIPpTag001", "callId": "1-25125@127.0.0.1", "type": "end"}';

  it('makes id, seq, ts and source, and keeps the fields of the type', () => {
    expect(toCallEvent(parseKamMessage(invite) as KamEvent, 'kam1', 42)).toEqual({
      id: 'kam1-1795416009506-1',
      source: 'kam1',
      seq: 42,
      ts: '2026-11-23T06:40:10.029Z',
      type: 'invite',
      callId: '1-25125@127.0.0.1',
      fromTag: '25125SIPpTag001',
      from: 'sip:sipp@127.0.0.1:25080',
      to: 'sip:service@127.0.0.1:25070',
      domain: 'office.example',
    });
    expect(toCallEvent(parseKamMessage(progress) as KamEvent, 'kam1', 43)).toMatchObject({ type: 'progress', code: 180, toTag: '25123SIPpTag011', reason: 'Ringing' });
    // an empty To-tag is left out, not sent as ""
    expect(toCallEvent(parseKamMessage(end) as KamEvent, 'kam1', 44)).not.toHaveProperty('toTag');
    expect(parseKamMessage('{"k":"hello","kboot":"1795416009506","kseq":0,"tvs":1795416009,"tvu":506208,"cfg":"sitecall-1"}')).toEqual({ k: 'hello', kboot: '1795416009506', kseq: 0, tvs: 1795416009, tvu: 506208 });
  });

  it('keeps the dialog and kind of a link (transfer, replaces, pickup)', () => {
    const link = '{"tvu": 1200, "tvs": 1795416012, "kseq": 9, "kboot": "1795416009506", "k": "ev", "kind": "transfer", "otherCallId": "1-25125@127.0.0.1", "fromTag": "ft-2", "callId": "2-25130@127.0.0.1", "type": "link"}';
    expect(toCallEvent(parseKamMessage(link) as KamEvent, 'kam1', 45)).toEqual({
      id: 'kam1-1795416009506-9',
      source: 'kam1',
      seq: 45,
      ts: '2026-11-23T06:40:12.001Z',
      type: 'link',
      callId: '2-25130@127.0.0.1',
      fromTag: 'ft-2',
      otherCallId: '1-25125@127.0.0.1',
      kind: 'transfer',
    });
    for (const bad of [link.replace('"transfer"', '"sideways"'), link.replace('"otherCallId": "1-25125@127.0.0.1", ', ''), link.replace('"1-25125@127.0.0.1"', '""')]) {
      expect(() => parseKamMessage(bad), bad).toThrow(KamMessageError);
    }
  });

  it('truncates microseconds to milliseconds', () => {
    expect(isoOf(1795416010, 999_999)).toBe('2026-11-23T06:40:10.999Z');
    expect(isoOf(1795416010, 0)).toBe('2026-11-23T06:40:10.000Z');
  });

  it('refuses what is not a Sitecall message', () => {
    for (const bad of ['not json', '[]', '{"k":"ev"}', '{"k":"x","kboot":"1","kseq":1,"tvs":1,"tvu":1}', '{"k":"ev","kboot":"1","kseq":1,"tvs":1,"tvu":1,"type":"reinvite","callId":"c"}', '{"k":"ev","kboot":"1","kseq":-1,"tvs":1,"tvu":1,"type":"end","callId":"c"}', '{"k":"ev","kboot":"1","kseq":1,"tvs":1,"tvu":1000000,"type":"end","callId":"c"}']) {
      expect(() => parseKamMessage(bad), bad).toThrow(KamMessageError);
    }
  });

  it('orders positions by run, then number', () => {
    expect(comparePositions({ kboot: '100', kseq: 9 }, { kboot: '100', kseq: 10 })).toBeLessThan(0);
    expect(comparePositions({ kboot: '100', kseq: 99 }, { kboot: '101', kseq: 1 })).toBeLessThan(0);
    expect(comparePositions({ kboot: '101', kseq: 1 }, { kboot: '101', kseq: 1 })).toBe(0);
  });
});

describe('dlg.list → sync dialogs', () => {
  // a real dlg.list of Kamailio 5.6.3 with the shipped cfg: a failed call (state 5), an answered
  // call (4) and a ringing one (2)
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/dlg-list.json', import.meta.url), 'utf8')) as unknown;

  it('maps answered and early dialogs, leaves deleted ones out', () => {
    const dialogs = toSyncDialogs(dialogsOfRpc(fixture));
    expect(dialogs).toEqual([
      {
        callId: '1-29776@127.0.0.1',
        fromTag: '29776SIPpTag001',
        toTag: '29769SIPpTag011',
        state: 'confirmed',
        from: 'sip:sipp@127.0.0.1:25093',
        to: 'sip:service@127.0.0.1:25090',
        domain: 'office.example',
        answeredAt: new Date(1795416414052).toISOString(),
      },
      expect.objectContaining({ callId: '1-29781@127.0.0.1', state: 'early', domain: 'office.example' }),
    ]);
  });

  it('falls back to the configured domain, then the To host; uses start_ts without the answer time', () => {
    const d: KamDialog = { 'call-id': 'x1', state: 4, from_uri: 'sip:a@h', to_uri: 'sip:b@Office.Example:5060;transport=udp', start_ts: 1795416000, caller: { tag: 'f' }, callee: { tag: 't' } };
    expect(toSyncDialogs([d])[0]).toMatchObject({ domain: 'office.example', answeredAt: new Date(1795416000_000).toISOString() });
    expect(toSyncDialogs([d], { domain: 'pbx.example' })[0]?.domain).toBe('pbx.example');
  });

  it('sends a Call-ID listed twice once: the most advanced dialog', () => {
    const base = { from_uri: 'sip:a@h', to_uri: 'sip:b@h', caller: { tag: 'f' } };
    const list: KamDialog[] = [
      { ...base, 'call-id': 'dup', state: 2, init_ts: 10 },
      { ...base, 'call-id': 'dup', state: 4, init_ts: 11, callee: { tag: 't' } },
      { ...base, 'call-id': 'dup', state: 5, init_ts: 12 },
    ];
    expect(toSyncDialogs(list)).toEqual([expect.objectContaining({ callId: 'dup', state: 'confirmed', toTag: 't' })]);
  });

  it('reads the dialog list of the shipped cfg: the position from its headers, the dialogs from the JSON-RPC body', () => {
    const rpc = { jsonrpc: '2.0', id: 1, result: [{ 'call-id': 'x', state: 4 }] };
    expect(parseDialogsReply('1795416009506', '42', rpc)).toEqual({ position: { kboot: '1795416009506', kseq: 42 }, dialogs: [{ 'call-id': 'x', state: 4 }] });
    expect(parseDialogsReply('', '0', { jsonrpc: '2.0', id: 1 })).toEqual({ position: null, dialogs: [] });
    expect(() => parseDialogsReply('1', null, rpc)).toThrow(/no valid X-Sitecall-Kseq header/);
    expect(() => parseDialogsReply('1', '-3', rpc)).toThrow(/no valid X-Sitecall-Kseq header/);
    expect(() => parseDialogsReply('1', '4', { jsonrpc: '2.0', id: 1, error: { code: -32000 } })).toThrow(/dlg.list failed/);
  });

  it('reads the snapshot of the shipped cfg and JSON-RPC answers without a result or with an error', () => {
    expect(parseSnapshot({ kboot: '1795416020875', kseq: 3, rpc: fixture })).toMatchObject({ position: { kboot: '1795416020875', kseq: 3 } });
    expect(parseSnapshot({ kboot: '1', kseq: 0, rpc: { jsonrpc: '2.0', id: 1 } }).dialogs).toEqual([]);
    expect(() => dialogsOfRpc({ jsonrpc: '2.0', error: { code: -32601, message: 'Method Not Found' }, id: 1 })).toThrow(/dlg.list failed/);
    expect(() => parseSnapshot({ rpc: fixture })).toThrow(/kboot/);
  });
});

describe('outbound queue', () => {
  const ev = (n: number): QueueItem => ({ kind: 'event', event: { id: `e${n}`, source: 's', seq: n, ts: '2026-11-23T00:00:00.000Z', type: 'end', callId: `c${n}`, by: 'caller' } });
  const ids = (q: OutboundQueue, max = 1000) => {
    const next = q.nextUnsent(max);
    return next?.kind === 'events' ? next.events.map((e) => e.id) : next?.kind;
  };

  it('sends in order, resends what was not acknowledged, stops a run at a sync barrier', () => {
    const q = new OutboundQueue({ maxMemory: 100, spoolDir: null, maxSpoolBytes: 0 });
    for (let i = 1; i <= 3; i++) q.push(ev(i));
    q.push({ kind: 'sync', reason: 'test', takenAt: '', dialogs: [] });
    q.push(ev(4));
    expect(ids(q, 2)).toEqual(['e1', 'e2']);
    q.markSent(2);
    expect(ids(q)).toEqual(['e3']);
    q.markSent(1);
    expect(ids(q)).toBe('sync');
    q.unsendAll();
    expect(ids(q)).toEqual(['e1', 'e2', 'e3']);
    q.markSent(3);
    q.ack(3);
    expect(q.size).toBe(2);
    expect(ids(q)).toBe('sync');
    q.markSent(1);
    q.ack(1);
    expect(ids(q)).toEqual(['e4']);
  });

  it('spills to the spool past its memory and keeps the order; a graceful stop keeps the rest for the next start', () => {
    const dir = tempDir();
    const q = new OutboundQueue({ maxMemory: 10, spoolDir: dir, maxSpoolBytes: 10 * 1024 * 1024 });
    for (let i = 1; i <= 35; i++) expect(q.push(ev(i))).toBe(true);
    expect(q.memorySize).toBe(10);
    expect(q.spooled).toBe(25);
    const seen: string[] = [];
    while (q.size > 20) {
      const batch = q.nextUnsent(4);
      if (batch?.kind !== 'events') throw new Error('expected events');
      seen.push(...batch.events.map((e) => e.id));
      q.markSent(batch.events.length);
      q.ack(batch.events.length);
    }
    q.markSent(2); // in flight at the stop: sent again after it
    expect(q.persist()).toBe(true);
    const again = new OutboundQueue({ maxMemory: 10, spoolDir: dir, maxSpoolBytes: 10 * 1024 * 1024 });
    expect(again.size).toBe(35 - seen.length);
    while (again.size > 0) {
      const batch = again.nextUnsent(7);
      if (batch?.kind !== 'events') throw new Error('expected events');
      seen.push(...batch.events.map((e) => e.id));
      again.markSent(batch.events.length);
      again.ack(batch.events.length);
    }
    expect(seen).toEqual(Array.from({ length: 35 }, (_, i) => `e${i + 1}`));
  });

  it('drops (and counts) what does not fit', () => {
    const q = new OutboundQueue({ maxMemory: 3, spoolDir: null, maxSpoolBytes: 0 });
    for (let i = 1; i <= 5; i++) q.push(ev(i));
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(2);
    const small = new OutboundQueue({ maxMemory: 1, spoolDir: tempDir(), maxSpoolBytes: 300 });
    for (let i = 1; i <= 10; i++) small.push(ev(i));
    expect(small.dropped).toBeGreaterThan(0);
    expect(small.size + small.dropped).toBe(10);
  });
});

describe('seq numbering', () => {
  it('increases across restarts, skips numbers for missed events, never reuses one after a crash', () => {
    const dir = tempDir();
    const a = new SeqState(dir, 100);
    expect([a.take({ kboot: '1', kseq: 1 }), a.take({ kboot: '1', kseq: 2 })]).toEqual([1, 2]);
    a.skip(3);
    expect(a.take({ kboot: '1', kseq: 6 })).toBe(6);
    a.close();
    const b = new SeqState(dir, 100);
    expect(b.last).toEqual({ kboot: '1', kseq: 6 });
    expect(b.take({ kboot: '1', kseq: 7 })).toBe(7);
    // a crash (no close): the next start begins after the reserved block
    const c = new SeqState(dir, 100);
    expect(c.take({ kboot: '1', kseq: 8 })).toBeGreaterThan(7);
  });
});

describe('adapter configuration', () => {
  it('takes flags over the environment over defaults', () => {
    const cfg = parseConfig(['--source', 'kam-a', '--evapi=10.0.0.5:9000'], { SITECALL_TOKEN: 'tok', SITECALL_SOURCE: 'ignored', SITECALL_URL: 'https://appliance.example:8443' });
    expect(cfg).toMatchObject({ source: 'kam-a', evapiHost: '10.0.0.5', evapiPort: 9000, tokens: ['tok'], applianceUrls: ['https://appliance.example:8443/'], rpcUrl: 'http://127.0.0.1:8088/RPC', batch: 500, linkTimeoutMs: 3000, probeMaxMs: 30_000 });
  });

  it('takes several appliance addresses, most preferred first, with one token for all or one each', () => {
    const cfg = parseConfig(['--appliance', ' https://site-a.example:7080 , https://site-b.example:7080/,http://10.0.0.9:7080'], { SITECALL_TOKEN: 'sct_shared' });
    expect(cfg.applianceUrls).toEqual(['https://site-a.example:7080/', 'https://site-b.example:7080/', 'http://10.0.0.9:7080/']);
    expect(cfg.tokens).toEqual(['sct_shared']);
    const each = parseConfig(['--token', 'sct_a,sct_b', '--link-timeout', '5', '--probe-max', '10'], { SITECALL_URL: 'https://a.example,https://b.example' });
    expect(each).toMatchObject({ tokens: ['sct_a', 'sct_b'], linkTimeoutMs: 5000, probeMaxMs: 10_000 });
    const dir = tempDir();
    writeFileSync(join(dir, 'tokens'), 'sct_a\nsct_b\n');
    expect(parseConfig(['--token-file', join(dir, 'tokens')], { SITECALL_URL: 'https://a.example,https://b.example' }).tokens).toEqual(['sct_a', 'sct_b']);
  });

  it('says what is wrong with a list of appliance addresses', () => {
    const bad = (urls: string, token = 't') => () => parseConfig(['--token', token, '--appliance', urls], {});
    expect(bad('https://a.example,,https://b.example')).toThrow('--appliance: the 2nd address is empty; give the appliance URLs most preferred first, separated by commas');
    expect(bad('https://a.example,b.example:7080')).toThrow(/the 2nd address, "b\.example:7080", must start with http:\/\/ or https:\/\//);
    expect(bad('https://a.example,not a url')).toThrow('--appliance: the 2nd address, "not a url", is not a URL');
    expect(bad('https://a.example:7080,https://b.example,https://a.example:7080/api')).toThrow('--appliance: the 3rd address, https://a.example:7080, is the same appliance as the 1st; name each once.');
    expect(bad('https://admin:secret@a.example')).toThrow(/carries a user name or password; give the token with --token/);
    expect(bad('https://admin:secret@a.example')).not.toThrow(/secret/);
    expect(bad(Array.from({ length: 9 }, (_, i) => `https://s${i}.example`).join(','))).toThrow('--appliance names 9 addresses; at most 8 are taken.');
    expect(bad('https://a.example,https://b.example', 'sct_1,sct_2,sct_3')).toThrow('There are 3 tokens for 2 appliance addresses: give one token for all (paired sites share their tokens) or one per address, in the order of --appliance.');
    expect(bad('https://a.example', ' , ')).toThrow(/An API token with the events scope is needed/);
    expect(() => parseConfig(['--token', 't', '--link-timeout', '0'], {})).toThrow('--link-timeout must be a whole number from 1 to 600 (got "0").');
  });

  it('says what is wrong', () => {
    expect(() => parseConfig([], {})).toThrow(/token/);
    expect(() => parseConfig(['--token', 't', '--source', 'bad id'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--token', 't', '--evapi', 'nohost'], {})).toThrow(/host:port/);
    expect(() => parseConfig(['--token', 't', '--batch', '0'], {})).toThrow(/--batch must be a whole number from 1 to 5000/);
    expect(() => parseConfig(['--tokn', 't'], {})).toThrow(/Unknown flag --tokn/);
  });
});
