import type { AudioEncoding } from '../../shared/api/vmail.js';

/**
 * WAV checking from the bytes alone (design section 5: "WAV (PCM or G.711) accepted and checked").
 *
 * Accepted: RIFF/WAVE with a `fmt ` chunk of 16-bit PCM at 8 or 16 kHz, or G.711 A-law / mu-law
 * (8-bit) at 8 kHz, mono or stereo, plain or WAVE_FORMAT_EXTENSIBLE. The duration is the `data`
 * chunk's size divided by the byte rate, and every size in the file must agree with the bytes that
 * really arrive: a file shorter than its header says (truncated) or longer (a header that lies) is
 * refused. The validator is incremental so an upload is judged on its first bytes: the header
 * (and so the duration) is known as soon as the `data` chunk's header has streamed in.
 */

export interface WavFormat {
  encoding: AudioEncoding;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  blockAlign: number;
  byteRate: number;
}

export interface WavHeader {
  format: WavFormat;
  /** the whole file's size as the RIFF header says it (RIFF size + 8) */
  totalBytes: number;
  /** where the audio samples start */
  dataOffset: number;
  dataBytes: number;
  durationMs: number;
}

/** Why the bytes are not an acceptable WAV; the message is a sentence for the API. */
export class WavError extends Error {
  override name = 'WavError';
  constructor(
    message: string,
    /** truncated: fewer bytes than announced; lying: sizes that disagree; format: not what we take */
    readonly kind: 'not_wav' | 'format' | 'truncated' | 'lying',
  ) {
    super(message);
  }
}

export interface WavLimits {
  /** the data chunk must start within this many bytes */
  headerBytes: number;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
const FMT_MAX_BYTES = 1024;

type State =
  | { s: 'riff' }
  | { s: 'chunk-header' }
  | { s: 'fmt'; size: number; padAfter: boolean }
  | { s: 'skip'; left: number; padAfter: boolean };

function fourcc(buf: Buffer, at: number): string {
  return buf.toString('latin1', at, at + 4);
}

function printable(id: string): string {
  return /^[\x20-\x7e]{4}$/.test(id) ? `"${id}"` : `0x${Buffer.from(id, 'latin1').toString('hex')}`;
}

export function parseFmt(body: Buffer): WavFormat {
  if (body.length < 16) throw new WavError(`The fmt chunk has ${body.length} bytes; it needs at least 16.`, 'format');
  let tag = body.readUInt16LE(0);
  const channels = body.readUInt16LE(2);
  const sampleRate = body.readUInt32LE(4);
  const byteRate = body.readUInt32LE(8);
  const blockAlign = body.readUInt16LE(12);
  const bitsPerSample = body.readUInt16LE(14);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    // cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16): the format code is the GUID's first two bytes.
    if (body.length < 40) throw new WavError('The fmt chunk says WAVE_FORMAT_EXTENSIBLE but is shorter than 40 bytes.', 'format');
    tag = body.readUInt16LE(24);
  }
  let encoding: AudioEncoding;
  if (tag === WAVE_FORMAT_PCM) {
    if (bitsPerSample !== 16) throw new WavError(`The audio is ${bitsPerSample}-bit PCM; only 16-bit PCM (or G.711) is taken.`, 'format');
    if (sampleRate !== 8000 && sampleRate !== 16000) throw new WavError(`The audio is PCM at ${sampleRate} Hz; PCM is taken at 8000 or 16000 Hz.`, 'format');
    encoding = 'pcm_s16le';
  } else if (tag === WAVE_FORMAT_ALAW || tag === WAVE_FORMAT_MULAW) {
    const name = tag === WAVE_FORMAT_ALAW ? 'A-law' : 'mu-law';
    if (bitsPerSample !== 8) throw new WavError(`The audio is G.711 ${name} with ${bitsPerSample} bits per sample; G.711 has 8.`, 'format');
    if (sampleRate !== 8000) throw new WavError(`The audio is G.711 ${name} at ${sampleRate} Hz; G.711 is taken at 8000 Hz.`, 'format');
    encoding = tag === WAVE_FORMAT_ALAW ? 'alaw' : 'mulaw';
  } else {
    throw new WavError(`The audio format code is ${tag}; taken are PCM (1), G.711 A-law (6) and mu-law (7).`, 'format');
  }
  if (channels !== 1 && channels !== 2) throw new WavError(`The audio has ${channels} channels; 1 or 2 are taken.`, 'format');
  const expectedAlign = (channels * bitsPerSample) / 8;
  if (blockAlign !== expectedAlign) throw new WavError(`The fmt chunk's block align is ${blockAlign}; ${channels} channel(s) of ${bitsPerSample} bits make ${expectedAlign}.`, 'lying');
  if (byteRate !== sampleRate * blockAlign) throw new WavError(`The fmt chunk's byte rate is ${byteRate}; ${sampleRate} Hz × ${blockAlign} bytes make ${sampleRate * blockAlign}.`, 'lying');
  return { encoding, sampleRate, channels, bitsPerSample, blockAlign, byteRate };
}

/**
 * Feeds a WAV file's bytes in order and throws a WavError at the first byte that makes it
 * unacceptable. `push` returns the header once, when the `data` chunk's header has arrived.
 */
export class WavValidator {
  private state: State = { s: 'riff' };
  /** bytes kept for a structure that spans pushes (RIFF header, chunk header, fmt body) */
  private pending: Buffer = Buffer.alloc(0);
  private pos = 0;
  private totalBytes = 0;
  private format: WavFormat | undefined;
  private headerValue: WavHeader | undefined;
  private ended = false;

  constructor(private readonly limits: WavLimits) {}

  get header(): WavHeader | undefined {
    return this.headerValue;
  }

  /** bytes pushed so far */
  get received(): number {
    return this.pos;
  }

  push(chunk: Buffer): WavHeader | undefined {
    if (this.ended) throw new Error('push after end');
    const hadHeader = this.headerValue !== undefined;
    let at = 0;
    while (at < chunk.length) {
      const state = this.state;
      if (state.s === 'skip') {
        const n = Math.min(state.left, chunk.length - at);
        state.left -= n;
        at += n;
        this.pos += n;
        if (state.left === 0) {
          if (state.padAfter && this.pos < this.totalBytes) this.state = { s: 'skip', left: 1, padAfter: false };
          else this.state = { s: 'chunk-header' };
        }
        continue;
      }
      if (state.s === 'chunk-header' && this.totalBytes > 0 && this.pos >= this.totalBytes) {
        throw new WavError(`The file goes on after the ${this.totalBytes} bytes its RIFF header announces.`, 'lying');
      }
      const need = state.s === 'riff' ? 12 : state.s === 'chunk-header' ? 8 : state.size;
      const take = Math.min(need - this.pending.length, chunk.length - at);
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk.subarray(at, at + take)]) : chunk.subarray(at, at + take);
      at += take;
      if (this.pending.length < need) break;
      const whole = this.pending;
      this.pending = Buffer.alloc(0);
      this.pos += need;
      if (state.s === 'riff') this.onRiff(whole);
      else if (state.s === 'chunk-header') this.onChunkHeader(whole);
      else this.onFmt(whole, state.padAfter);
    }
    // Copy what is kept: a subarray would pin the caller's whole chunk.
    if (this.pending.length) this.pending = Buffer.from(this.pending);
    return !hadHeader ? this.headerValue : undefined;
  }

  /** The end of the bytes: throws unless the file is complete and every size agreed. */
  end(): WavHeader {
    this.ended = true;
    const received = this.pos + this.pending.length;
    if (this.state.s === 'riff') throw new WavError(received === 0 ? 'The audio is empty.' : `The audio has ${received} bytes: too short for a WAV header.`, received >= 4 ? 'truncated' : 'not_wav');
    if (!this.headerValue) throw new WavError(`The WAV ends after ${received} bytes, before any data chunk.`, 'truncated');
    if (received < this.totalBytes) {
      throw new WavError(`The WAV is truncated: its header announces ${this.totalBytes} bytes (${this.headerValue.durationMs} ms of audio) but ${received} arrived.`, 'truncated');
    }
    if (this.pending.length) throw new WavError(`The WAV ends with ${this.pending.length} stray bytes that are not a chunk.`, 'lying');
    return this.headerValue;
  }

  private onRiff(buf: Buffer): void {
    const magic = fourcc(buf, 0);
    if (magic !== 'RIFF') {
      if (magic === 'RIFX' || magic === 'RF64') throw new WavError(`The file is a ${magic} WAV; only little-endian RIFF WAV is taken.`, 'format');
      throw new WavError('The audio is not a WAV file (it does not start with RIFF).', 'not_wav');
    }
    if (fourcc(buf, 8) !== 'WAVE') throw new WavError(`The RIFF file is of type ${printable(fourcc(buf, 8))}, not WAVE.`, 'not_wav');
    const riffSize = buf.readUInt32LE(4);
    // fmt (8 + 16) and a data chunk header (8) after "WAVE" (4)
    if (riffSize < 36) throw new WavError(`The RIFF header says the file is ${riffSize + 8} bytes: too short for a WAV.`, 'lying');
    this.totalBytes = riffSize + 8;
    this.state = { s: 'chunk-header' };
  }

  private onChunkHeader(buf: Buffer): void {
    const id = fourcc(buf, 0);
    const size = buf.readUInt32LE(4);
    const bodyStart = this.pos;
    if (bodyStart + size > this.totalBytes) {
      throw new WavError(`The ${printable(id)} chunk claims ${size} bytes, beyond the ${this.totalBytes} bytes the RIFF header announces.`, 'lying');
    }
    if (!this.headerValue && bodyStart > this.limits.headerBytes) {
      throw new WavError(`No data chunk starts within the first ${this.limits.headerBytes} bytes.`, 'format');
    }
    const padAfter = size % 2 === 1;
    if (id === 'fmt ') {
      if (this.format) throw new WavError('The WAV has two fmt chunks.', 'format');
      if (this.headerValue) throw new WavError('The fmt chunk comes after the data chunk.', 'format');
      if (size < 16 || size > FMT_MAX_BYTES) throw new WavError(`The fmt chunk has ${size} bytes; 16 to ${FMT_MAX_BYTES} are taken.`, 'format');
      this.state = { s: 'fmt', size, padAfter };
      return;
    }
    if (id === 'data') {
      if (this.headerValue) throw new WavError('The WAV has two data chunks.', 'format');
      if (!this.format) throw new WavError('The data chunk comes before any fmt chunk.', 'format');
      if (size === 0) throw new WavError('The data chunk is empty: the message has no audio.', 'format');
      if (size % this.format.blockAlign !== 0) {
        throw new WavError(`The data chunk's ${size} bytes are not a whole number of ${this.format.blockAlign}-byte samples.`, 'lying');
      }
      this.headerValue = {
        format: this.format,
        totalBytes: this.totalBytes,
        dataOffset: bodyStart,
        dataBytes: size,
        durationMs: Math.round((size * 1000) / this.format.byteRate),
      };
    }
    this.state = size === 0 ? { s: 'chunk-header' } : { s: 'skip', left: size, padAfter };
  }

  private onFmt(body: Buffer, padAfter: boolean): void {
    this.format = parseFmt(body);
    this.state = padAfter && this.pos < this.totalBytes ? { s: 'skip', left: 1, padAfter: false } : { s: 'chunk-header' };
  }
}

/** Checks a whole WAV held in memory. */
export function parseWav(bytes: Buffer, limits: WavLimits = { headerBytes: 64 * 1024 }): WavHeader {
  const v = new WavValidator(limits);
  v.push(bytes);
  return v.end();
}

/** The 44-byte header of a plain WAV (fmt + data) holding `dataBytes` of audio in this format. */
export function wavHeader(format: Pick<WavFormat, 'encoding' | 'sampleRate' | 'channels'>, dataBytes: number): Buffer {
  const bits = format.encoding === 'pcm_s16le' ? 16 : 8;
  const blockAlign = (format.channels * bits) / 8;
  const tag = format.encoding === 'pcm_s16le' ? WAVE_FORMAT_PCM : format.encoding === 'alaw' ? WAVE_FORMAT_ALAW : WAVE_FORMAT_MULAW;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(tag, 20);
  h.writeUInt16LE(format.channels, 22);
  h.writeUInt32LE(format.sampleRate, 24);
  h.writeUInt32LE(format.sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}
