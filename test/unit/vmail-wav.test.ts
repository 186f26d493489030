import { describe, expect, it } from 'vitest';
import { parseWav, WavError, WavValidator, wavHeader, type WavHeader } from '../../service/vmail/wav.js';

const LIMITS = { headerBytes: 64 * 1024 };

/** A WAV written field by field here (not by wavHeader), so the parser is checked against an independent writer. */
function handWav(o: { tag: number; channels: number; rate: number; bits: number; data: Buffer; blockAlign?: number; byteRate?: number; riffSize?: number; dataSize?: number; extra?: Buffer[]; tail?: Buffer[] }): Buffer {
  const blockAlign = o.blockAlign ?? (o.channels * o.bits) / 8;
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(o.tag, 8);
  fmt.writeUInt16LE(o.channels, 10);
  fmt.writeUInt32LE(o.rate, 12);
  fmt.writeUInt32LE(o.byteRate ?? o.rate * blockAlign, 16);
  fmt.writeUInt16LE(blockAlign, 20);
  fmt.writeUInt16LE(o.bits, 22);
  const dataHead = Buffer.alloc(8);
  dataHead.write('data', 0, 'latin1');
  dataHead.writeUInt32LE(o.dataSize ?? o.data.length, 4);
  const pad = o.data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), fmt, ...(o.extra ?? []), dataHead, o.data, pad, ...(o.tail ?? [])]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(o.riffSize ?? body.length, 4);
  return Buffer.concat([riff, body]);
}

function chunk(id: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.write(id, 0, 'latin1');
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload, payload.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

const pcm = (rate: number, seconds: number) => handWav({ tag: 1, channels: 1, rate, bits: 16, data: Buffer.alloc(rate * 2 * seconds, 7) });
const g711 = (tag: 6 | 7, seconds: number) => handWav({ tag, channels: 1, rate: 8000, bits: 8, data: Buffer.alloc(8000 * seconds, 0xd5) });

function refusal(bytes: Buffer): WavError {
  try {
    parseWav(bytes, LIMITS);
  } catch (err) {
    if (err instanceof WavError) return err;
    throw err;
  }
  throw new Error('the WAV was accepted');
}

describe('WAV checking', () => {
  it('takes 16-bit PCM at 8 and 16 kHz with the duration from the data size', () => {
    expect(parseWav(pcm(8000, 3))).toMatchObject({ format: { encoding: 'pcm_s16le', sampleRate: 8000, channels: 1, bitsPerSample: 16 }, durationMs: 3000, dataOffset: 44, dataBytes: 48000 });
    expect(parseWav(pcm(16000, 2))).toMatchObject({ format: { encoding: 'pcm_s16le', sampleRate: 16000 }, durationMs: 2000, dataBytes: 64000 });
  });

  it('takes G.711 mu-law and A-law at 8 kHz', () => {
    expect(parseWav(g711(7, 4))).toMatchObject({ format: { encoding: 'mulaw', sampleRate: 8000, bitsPerSample: 8 }, durationMs: 4000 });
    expect(parseWav(g711(6, 1))).toMatchObject({ format: { encoding: 'alaw', sampleRate: 8000 }, durationMs: 1000 });
  });

  it('takes stereo, WAVE_FORMAT_EXTENSIBLE, and chunks before and after the data', () => {
    expect(parseWav(handWav({ tag: 1, channels: 2, rate: 8000, bits: 16, data: Buffer.alloc(32000) })).durationMs).toBe(1000);
    const ext = Buffer.alloc(48);
    ext.write('fmt ', 0, 'latin1');
    ext.writeUInt32LE(40, 4);
    ext.writeUInt16LE(0xfffe, 8);
    ext.writeUInt16LE(1, 10);
    ext.writeUInt32LE(8000, 12);
    ext.writeUInt32LE(8000, 16);
    ext.writeUInt16LE(1, 20);
    ext.writeUInt16LE(8, 22);
    ext.writeUInt16LE(22, 24);
    ext.writeUInt16LE(7, 32); // SubFormat: mu-law
    const data = chunk('data', Buffer.alloc(800));
    const body = Buffer.concat([Buffer.from('WAVE'), ext, chunk('fact', Buffer.alloc(4)), data]);
    const riff = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), body]);
    riff.writeUInt32LE(body.length, 4);
    expect(parseWav(riff)).toMatchObject({ format: { encoding: 'mulaw' }, durationMs: 100 });
    // an odd-sized LIST chunk (padded) before the data and another after it
    const list = chunk('LIST', Buffer.from('INFOx'));
    const withChunks = handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(1600), extra: [list], tail: [chunk('LIST', Buffer.from('INFO'))] });
    expect(parseWav(withChunks)).toMatchObject({ durationMs: 100, dataOffset: 44 + list.length });
  });

  it('gives the header as soon as the data chunk header has arrived, however the bytes are split', () => {
    const wav = pcm(8000, 1);
    const v = new WavValidator(LIMITS);
    let header: WavHeader | undefined;
    let at = -1;
    for (let i = 0; i < wav.length; i++) {
      const h = v.push(wav.subarray(i, i + 1));
      if (h) {
        header = h;
        at = i + 1;
      }
    }
    expect(at).toBe(44);
    expect(header?.durationMs).toBe(1000);
    expect(v.end()).toEqual(header);
    const split = new WavValidator(LIMITS);
    for (let i = 0; i < wav.length; i += 4097) split.push(wav.subarray(i, i + 4097));
    expect(split.end()).toEqual(header);
  });

  it('agrees with the header writer the tests and the benchmark use', () => {
    for (const format of [
      { encoding: 'pcm_s16le', sampleRate: 16000, channels: 1 },
      { encoding: 'alaw', sampleRate: 8000, channels: 1 },
    ] as const) {
      const bytes = format.encoding === 'pcm_s16le' ? 32000 * 3 : 8000 * 3;
      expect(parseWav(Buffer.concat([wavHeader(format, bytes), Buffer.alloc(bytes)])).durationMs).toBe(3000);
    }
  });

  it('refuses what is not a WAV', () => {
    expect(refusal(Buffer.from('ID3\u0003\u0000\u0000\u0000\u0000\u0000\u0000this is an mp3 really')).kind).toBe('not_wav');
    expect(refusal(Buffer.from('hello world, not audio at all')).message).toMatch(/does not start with RIFF/);
    const avi = pcm(8000, 1);
    avi.write('AVI ', 8, 'latin1');
    expect(refusal(avi).message).toMatch(/type "AVI ", not WAVE/);
    const rifx = pcm(8000, 1);
    rifx.write('RIFX', 0, 'latin1');
    expect(refusal(rifx).message).toMatch(/RIFX/);
    expect(refusal(Buffer.alloc(0)).message).toBe('The audio is empty.');
    expect(refusal(Buffer.from('RIF')).kind).toBe('not_wav');
  });

  it('refuses formats it does not take', () => {
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 8, data: Buffer.alloc(80) })).message).toMatch(/8-bit PCM/);
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 44100, bits: 16, data: Buffer.alloc(80) })).message).toMatch(/44100 Hz/);
    expect(refusal(handWav({ tag: 7, channels: 1, rate: 16000, bits: 8, data: Buffer.alloc(80) })).message).toMatch(/mu-law at 16000 Hz/);
    expect(refusal(handWav({ tag: 3, channels: 1, rate: 8000, bits: 32, data: Buffer.alloc(80) })).message).toMatch(/format code is 3/);
    expect(refusal(handWav({ tag: 1, channels: 3, rate: 8000, bits: 16, data: Buffer.alloc(84) })).message).toMatch(/3 channels/);
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(0) })).message).toMatch(/no audio/);
  });

  it('refuses a truncated WAV', () => {
    const whole = pcm(8000, 2);
    const cut = refusal(whole.subarray(0, whole.length - 1000));
    expect(cut.kind).toBe('truncated');
    expect(cut.message).toMatch(/truncated: its header announces 32044 bytes \(2000 ms of audio\) but 31044 arrived/);
    expect(refusal(whole.subarray(0, 30)).kind).toBe('truncated');
    expect(refusal(whole.subarray(0, 44)).kind).toBe('truncated');
  });

  it('refuses a WAV that lies about its length', () => {
    // data says 60 s, RIFF agrees, but 1 s arrives: truncated, never 60 s of metadata
    const claims60 = handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(16000), dataSize: 960000, riffSize: 36 + 960000 });
    expect(refusal(claims60).kind).toBe('truncated');
    // data says 1 s but 60 s follow, RIFF says the short size: bytes past the announced end
    const short = handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(960000), dataSize: 16000, riffSize: 36 + 16000 });
    expect(refusal(short)).toMatchObject({ kind: 'lying', message: expect.stringMatching(/goes on after the 16044 bytes/) });
    // data says more than the RIFF size allows (0xFFFFFFFF from streaming writers too)
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(1600), dataSize: 0xffffffff })).message).toMatch(/"data" chunk claims 4294967295 bytes, beyond the 1644 bytes/);
    // RIFF says more than arrives
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(1600), riffSize: 99999 })).kind).toBe('truncated');
    // a byte rate or block align that does not follow from the format would fake the duration
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(1600), byteRate: 1600 })).message).toMatch(/byte rate is 1600; 8000 Hz × 2 bytes make 16000/);
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(1600), blockAlign: 4 })).kind).toBe('lying');
    expect(refusal(handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(1601) })).message).toMatch(/not a whole number of 2-byte samples/);
    // stray bytes at the end that are not a chunk
    const stray = Buffer.concat([pcm(8000, 1), Buffer.from([1, 2, 3])]);
    stray.writeUInt32LE(stray.length - 8, 4);
    expect(refusal(stray).message).toMatch(/3 stray bytes/);
  });

  it('refuses a data chunk before the fmt chunk and a header that never reaches the data', () => {
    const noFmt = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE'), chunk('data', Buffer.alloc(64)), chunk('fmt ', Buffer.alloc(16))]);
    noFmt.writeUInt32LE(noFmt.length - 8, 4);
    expect(refusal(noFmt).message).toMatch(/data chunk comes before any fmt chunk/);
    const junk = handWav({ tag: 1, channels: 1, rate: 8000, bits: 16, data: Buffer.alloc(16), extra: [chunk('JUNK', Buffer.alloc(70_000))] });
    expect(refusal(junk).message).toMatch(/No data chunk starts within the first 65536 bytes/);
  });
});
