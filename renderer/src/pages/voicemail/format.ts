/** Formatting for the voicemail page. Pure functions. */
import type { AudioFormat, Folder, Mailbox, Message } from '../../../../shared/api/vmail.js';
import { addDays, civilDateAt, formatInZone, type CivilDate } from '../../lib/timeZone.js';

/** "0:07", "3:05", "1:02:03" from seconds. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * "0:00.9", "3:05.2": a position in a recording and its length, to a tenth of a second. Whole
 * seconds made the time beside a moving seek bar stand still for a second at a time (a third of a
 * three-second message at 0:00).
 */
export function playerClock(seconds: number): string {
  const tenths = Math.max(0, Math.round((Number.isFinite(seconds) ? seconds : 0) * 10));
  return `${clock(Math.floor(tenths / 10))}.${tenths % 10}`;
}

/** A message or greeting length: rounded up to the second, never "0:00" for a short one. */
export function lengthOf(durationMs: number): string {
  return clock(Math.ceil(durationMs / 1000));
}

export function callerTitle(m: Pick<Message, 'callerName' | 'callerNumber'>): string {
  return m.callerName || m.callerNumber || 'Unknown caller';
}

/** The number under the name, when there is a name. */
export function callerSub(m: Pick<Message, 'callerName' | 'callerNumber'>): string | null {
  return m.callerName && m.callerNumber ? m.callerNumber : null;
}

export const FOLDER_LABEL: Record<Folder, string> = { new: 'New', saved: 'Saved', deleted: 'Deleted' };

export function boxLabel(b: Pick<Mailbox, 'number' | 'name'>): string {
  return b.name ? `${b.number} · ${b.name}` : b.number;
}

/** A file name for a download: voicemail-1001-20260301-101502-ann-caller.wav */
export function messageFileName(m: Message): string {
  const when = m.createdAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const who = callerTitle(m)
    .toLowerCase()
    .replace(/[^a-z0-9+]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40);
  return `voicemail-${m.mailbox}-${when}${who ? `-${who}` : ''}.wav`;
}

export const nf = new Intl.NumberFormat();

/**
 * Why a message cannot be played from here, or undefined when it can: its recording is missing
 * from the store, or it is kept on the site that took the message (`originSite`) and that site
 * is not connected now (`available: false`; shared/api/vmail.ts). `siteName` names that site
 * when the console knows it (the paired sites' names), else it is "another site".
 */
export function unavailableReason(m: Pick<Message, 'available' | 'audioMissing'>, siteName?: string): { label: string; reason: string } | undefined {
  if (m.audioMissing) return { label: 'Recording missing', reason: 'The recording of this message is missing from the store (the start-up check found no file). See the service log.' };
  if (m.available) return undefined;
  const where = siteName ? `site ${siteName}` : 'another site';
  return {
    label: `Unavailable: ${siteName ?? 'its site'} is away`,
    reason: `This message was left at ${where}, which keeps its recording, and that site cannot be reached from here now. It can be played again once the link to it is back; moving or deleting it works meanwhile.`,
  };
}

/** "Today 08:19", "Yesterday 17:02", "Nov 21, 09:15", "Nov 21, 2025, 09:15": when a message came, in the zone. */
export function formatWhen(iso: string, timeZone: string, now: number = Date.now()): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const day = civilDateAt(ms, timeZone);
  const today = civilDateAt(now, timeZone);
  const yesterday = addDays(today, -1);
  const same = (a: CivilDate, b: CivilDate) => a.year === b.year && a.month === b.month && a.day === b.day;
  const hm = formatInZone(ms, timeZone, 'hourMinute');
  if (same(day, today)) return `Today ${hm}`;
  if (same(day, yesterday)) return `Yesterday ${hm}`;
  if (day.year === today.year) return `${formatInZone(ms, timeZone, 'dayMonth')}, ${hm}`;
  return formatInZone(ms, timeZone, 'dateTime');
}

/** "812 bytes", "31.3 KB", "1.2 MB" (1024-based, as file managers show them). */
export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${nf.format(bytes)} byte${bytes === 1 ? '' : 's'}`;
  const kb = bytes / 1024;
  if (kb < 1024) return `${kb < 10 ? kb.toFixed(1) : Math.round(kb)} KB`;
  const mb = kb / 1024;
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB`;
}

const ENCODING_LABEL: Record<AudioFormat['encoding'], string> = { pcm_s16le: '16-bit PCM', alaw: 'G.711 A-law', mulaw: 'G.711 µ-law' };

/** "16-bit PCM, 8 kHz, mono" */
export function audioFormatLabel(f: AudioFormat): string {
  return `${ENCODING_LABEL[f.encoding]}, ${f.sampleRate / 1000} kHz, ${f.channels === 1 ? 'mono' : f.channels === 2 ? 'stereo' : `${f.channels} channels`}`;
}
