/**
 * The greetings of a mailbox: one row per kind with what callers hear now (the temporary greeting,
 * when set, overrides the unavailable and busy ones), a player, upload (a WAV) and remove.
 */
import { useRef, useState } from 'react';
import type { GreetingKind, Mailbox } from '../../../../shared/api/vmail.js';
import { VMAIL_LIMITS } from './limits.js';
import { toApiError, type ApiError } from '../../api/client.js';
import { deleteGreeting, uploadGreeting } from '../../api/vmail.js';
import { Icon } from '../../components/icons.js';
import { Alert, Badge, ConfirmDialog, ErrorText, type Tone } from '../../components/ui.js';
import { formatInZone } from '../../lib/timeZone.js';
import { AudioPlayer } from './AudioPlayer.js';
import { lengthOf } from './format.js';
import { VmIcon } from './icons.js';

const KINDS: { kind: GreetingKind; title: string; when: string }[] = [
  { kind: 'unavailable', title: 'Unavailable', when: 'Callers hear it when nobody answers.' },
  { kind: 'busy', title: 'Busy', when: 'Callers hear it when the line is busy.' },
  { kind: 'temporary', title: 'Temporary', when: 'While set, callers hear it instead of the two above (holidays, office closed).' },
  { kind: 'name', title: 'Recorded name', when: 'The name the system greeting and the directory say.' },
];

function status(box: Mailbox, kind: GreetingKind): { tone: Tone; text: string } {
  const g = box.greetings;
  const temporary = g.temporary !== null;
  if (kind === 'name') return g.name ? { tone: 'success', text: 'Recorded' } : { tone: 'neutral', text: 'Not recorded' };
  if (kind === 'temporary') return temporary ? { tone: 'warning', text: 'Active: overrides the others' } : { tone: 'neutral', text: 'Not set' };
  if (temporary) return g[kind] ? { tone: 'neutral', text: 'Set, overridden by temporary' } : { tone: 'neutral', text: 'Not set' };
  return g[kind] ? { tone: 'success', text: 'Active' } : { tone: 'neutral', text: 'Not set: the system greeting plays' };
}

const MAX_BYTES = VMAIL_LIMITS.uploadBytes;

export function GreetingsPanel({ box, timeZone, onChanged }: { box: Mailbox; timeZone: string; onChanged: () => void }) {
  const [busyKind, setBusyKind] = useState<GreetingKind | null>(null);
  const [errors, setErrors] = useState<Partial<Record<GreetingKind, ApiError>>>({});
  const [removing, setRemoving] = useState<GreetingKind | null>(null);
  const [removeError, setRemoveError] = useState<ApiError | undefined>(undefined);
  const inputs = useRef<Partial<Record<GreetingKind, HTMLInputElement | null>>>({});

  const setError = (kind: GreetingKind, error: ApiError | undefined) => setErrors((e) => ({ ...e, [kind]: error }));

  const upload = async (kind: GreetingKind, file: File) => {
    setError(kind, undefined);
    if (file.size > MAX_BYTES) {
      setError(kind, toApiError(new Error(`The file is ${(file.size / 1048576).toFixed(1)} MiB; the largest greeting is ${MAX_BYTES / 1048576} MiB.`)));
      return;
    }
    setBusyKind(kind);
    try {
      await uploadGreeting(box.domain, box.number, kind, file);
      onChanged();
    } catch (err) {
      setError(kind, toApiError(err));
    } finally {
      setBusyKind(null);
    }
  };

  const remove = async (kind: GreetingKind) => {
    setBusyKind(kind);
    setRemoveError(undefined);
    try {
      await deleteGreeting(box.domain, box.number, kind);
      setRemoving(null);
      onChanged();
    } catch (err) {
      setRemoveError(toApiError(err));
    } finally {
      setBusyKind(null);
    }
  };

  const removingInfo = KINDS.find((k) => k.kind === removing);

  return (
    <div className="vm-greetings">
      <p className="vm-section-note">
        Upload a WAV file: 16-bit PCM at 8 or 16 kHz, or G.711 (µ-law, A-law) at 8 kHz, mono or stereo, at most {VMAIL_LIMITS.greetingSeconds / 60} minutes.
      </p>
      <ul className="vm-greeting-list">
        {KINDS.map(({ kind, title, when }) => {
          const g = box.greetings[kind];
          const s = status(box, kind);
          const busy = busyKind === kind;
          const error = errors[kind];
          return (
            <li key={kind} className="vm-greeting" data-testid={`vm-greeting-${kind}`}>
              <div className="vm-greeting__text">
                <h3 className="vm-greeting__title">
                  {title} <Badge tone={s.tone}>{s.text}</Badge>
                </h3>
                <p className="vm-greeting__when">{when}</p>
                {g ? (
                  <p className="vm-greeting__meta">
                    {lengthOf(g.durationMs)} · uploaded {formatInZone(g.updatedAt, timeZone, 'dateTime')}
                  </p>
                ) : null}
              </div>
              <div className="vm-greeting__controls">
                {g ? (
                  <AudioPlayer
                    compact
                    source={{ type: 'greeting', domain: box.domain, box: box.number, kind }}
                    durationMs={g.durationMs}
                    fileName={`greeting-${box.number}-${kind}.wav`}
                    label={`the ${title.toLowerCase()} greeting`}
                  />
                ) : null}
                <div className="vm-greeting__buttons">
                  <input
                    ref={(el) => {
                      inputs.current[kind] = el;
                    }}
                    type="file"
                    accept=".wav,audio/wav,audio/x-wav,audio/wave"
                    className="visually-hidden"
                    tabIndex={-1}
                    aria-hidden="true"
                    data-testid={`vm-greeting-file-${kind}`}
                    onChange={(e) => {
                      const file = e.target.files?.[0];
                      e.target.value = '';
                      if (file) void upload(kind, file);
                    }}
                  />
                  <button type="button" className="button button--small" disabled={busyKind !== null} onClick={() => inputs.current[kind]?.click()} aria-label={`${g ? 'Replace' : 'Upload'} the ${title.toLowerCase()} greeting`}>
                    {busy && !removing ? <Icon name="refresh" className="icon--spin" /> : <VmIcon name="upload" />}
                    {busy && !removing ? 'Uploading…' : g ? 'Replace…' : 'Upload WAV…'}
                  </button>
                  {g ? (
                    <button type="button" className="button button--small button--danger-outline" disabled={busyKind !== null} onClick={() => setRemoving(kind)} aria-label={`Remove the ${title.toLowerCase()} greeting`}>
                      <Icon name="trash" /> Remove
                    </button>
                  ) : null}
                </div>
              </div>
              {error ? (
                <div className="vm-greeting__error">
                  <Alert tone="danger" title="The greeting was not saved">
                    <ErrorText error={error} />
                  </Alert>
                </div>
              ) : null}
            </li>
          );
        })}
      </ul>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove the ${removingInfo?.title.toLowerCase() ?? ''} greeting?`}
        confirmLabel="Remove"
        busyLabel="Removing…"
        busy={busyKind !== null}
        error={removeError}
        onConfirm={() => removing && void remove(removing)}
        onCancel={() => {
          setRemoving(null);
          setRemoveError(undefined);
        }}
      >
        <p>
          {removing === 'temporary'
            ? 'Callers hear the unavailable and busy greetings again (or the system greeting where none is set).'
            : removing === 'name'
              ? 'The system greeting no longer says the recorded name.'
              : 'Callers hear the system greeting instead.'}
        </p>
      </ConfirmDialog>
    </div>
  );
}
