/**
 * A player for a message or greeting: play/pause, a seek bar, the time, download. The WAV is
 * fetched with the session's bearer token on the first play (or download) and played from a blob:
 * URL (CSP media-src 'self' blob:); the token never goes into a URL. Until then the seek bar works
 * from the length the metadata gives, and a position picked early is applied once loaded.
 */
import { useEffect, useRef, useState, type CSSProperties } from 'react';
import { isAbort, toApiError, type ApiError } from '../../api/client.js';
import { fetchAudio, saveBlob, type AudioSource } from '../../api/vmail.js';
import { Icon } from '../../components/icons.js';
import { clock, playerClock } from './format.js';
import { VmIcon } from './icons.js';

type LoadState = { kind: 'idle' } | { kind: 'loading' } | { kind: 'ready'; url: string } | { kind: 'error'; error: ApiError };

function sourceKey(src: AudioSource): string {
  return src.type === 'message' ? `m:${src.domain}/${src.box}/${src.id}` : `g:${src.domain}/${src.box}/${src.kind}`;
}

interface PlayerProps {
  source: AudioSource;
  durationMs: number;
  fileName: string;
  /** what is played, for the controls' accessible names ("the message from Ann") */
  label: string;
  /** called the first time playback starts */
  onPlayed?: () => void;
  /** a reason the audio cannot be played (missing file); shown instead of the controls */
  unavailable?: string | undefined;
  compact?: boolean;
}

/** One player per source: another message or greeting is a new player (state and blob start over). */
export function AudioPlayer(props: PlayerProps) {
  return <Player key={sourceKey(props.source)} {...props} />;
}

function Player({ source, durationMs, fileName, label, onPlayed, unavailable, compact = false }: PlayerProps) {
  const audioRef = useRef<HTMLAudioElement>(null);
  const [load, setLoad] = useState<LoadState>({ kind: 'idle' });
  const [playing, setPlaying] = useState(false);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState(durationMs / 1000);
  const pendingSeek = useRef<number | null>(null);
  const [playAfterLoad, setPlayAfterLoad] = useState(false);
  const playAfterLoadRef = useRef(false);
  const played = useRef(false);
  const blobRef = useRef<Blob | null>(null);
  const loading = useRef<Promise<Blob | null> | null>(null);
  const controller = useRef<AbortController | null>(null);
  const sourceRef = useRef(source);
  sourceRef.current = source;
  const onPlayedRef = useRef(onPlayed);
  onPlayedRef.current = onPlayed;

  const wantPlay = (v: boolean) => {
    playAfterLoadRef.current = v;
    setPlayAfterLoad(v);
  };

  useEffect(() => () => controller.current?.abort(), []);

  useEffect(() => {
    if (load.kind !== 'ready') return undefined;
    const url = load.url;
    return () => URL.revokeObjectURL(url);
  }, [load]);

  const ensureLoaded = (): Promise<Blob | null> => {
    if (blobRef.current) return Promise.resolve(blobRef.current);
    if (loading.current) return loading.current;
    const c = new AbortController();
    controller.current = c;
    setLoad({ kind: 'loading' });
    const p = fetchAudio(sourceRef.current, c.signal).then(
      (blob) => {
        loading.current = null;
        if (c.signal.aborted) return null;
        blobRef.current = blob;
        setLoad({ kind: 'ready', url: URL.createObjectURL(blob) });
        return blob;
      },
      (err: unknown) => {
        loading.current = null;
        if (c.signal.aborted || isAbort(err)) return null;
        wantPlay(false);
        setLoad({ kind: 'error', error: toApiError(err) });
        return null;
      },
    );
    loading.current = p;
    return p;
  };

  const startPlayback = async (audio: HTMLAudioElement) => {
    try {
      await audio.play();
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') return;
      setLoad({ kind: 'error', error: toApiError(new Error(`The browser could not play the audio${err instanceof Error ? `: ${err.message}` : ''}.`)) });
    }
  };

  // Once the blob is in the element: apply an early seek, and start if play was asked for.
  const onLoadedMetadata = () => {
    const audio = audioRef.current;
    if (!audio) return;
    if (Number.isFinite(audio.duration) && audio.duration > 0) setDuration(audio.duration);
    if (pendingSeek.current !== null) {
      audio.currentTime = pendingSeek.current;
      pendingSeek.current = null;
    }
    if (playAfterLoadRef.current) {
      wantPlay(false);
      void startPlayback(audio);
    }
  };

  const toggle = () => {
    const audio = audioRef.current;
    if (load.kind === 'ready' && audio) {
      if (audio.paused) {
        if (audio.ended) audio.currentTime = 0;
        void startPlayback(audio);
      } else {
        audio.pause();
      }
      return;
    }
    if (load.kind === 'loading') {
      wantPlay(!playAfterLoadRef.current);
      return;
    }
    wantPlay(true);
    void ensureLoaded();
  };

  const seek = (value: number) => {
    setTime(value);
    const audio = audioRef.current;
    if (load.kind === 'ready' && audio) audio.currentTime = value;
    else pendingSeek.current = value;
  };

  const download = async () => {
    const blob = await ensureLoaded();
    if (blob) saveBlob(blob, fileName);
  };

  const retry = () => {
    loading.current = null;
    wantPlay(true);
    void ensureLoaded();
  };

  // A smooth bar while playing (timeupdate alone fires only about 4 times a second).
  useEffect(() => {
    if (!playing) return undefined;
    let frame = 0;
    const tick = () => {
      const audio = audioRef.current;
      if (audio) setTime(audio.currentTime);
      frame = window.requestAnimationFrame(tick);
    };
    frame = window.requestAnimationFrame(tick);
    return () => window.cancelAnimationFrame(frame);
  }, [playing]);

  if (unavailable) {
    return (
      <div className={compact ? 'vm-player vm-player--compact vm-player--unavailable' : 'vm-player vm-player--unavailable'} role="status">
        <Icon name="alert" />
        <span>{unavailable}</span>
      </div>
    );
  }

  const spinning = load.kind === 'loading' && playAfterLoad;
  const max = Math.max(duration, 0.1);
  const progress = Math.min(100, (time / max) * 100);
  return (
    <div className={compact ? 'vm-player vm-player--compact' : 'vm-player'} data-testid="vm-player">
      <button
        type="button"
        className="vm-player__play"
        onClick={toggle}
        aria-label={`${playing || spinning ? 'Pause' : 'Play'} ${label}`}
        title={playing ? 'Pause' : 'Play'}
        data-testid="vm-play"
      >
        {spinning ? <Icon name="refresh" className="icon--spin" /> : <VmIcon name={playing ? 'pause' : 'play'} />}
      </button>
      <input
        type="range"
        className="vm-seek"
        min={0}
        max={max}
        step={0.05}
        value={Math.min(time, max)}
        onChange={(e) => seek(Number(e.target.value))}
        aria-label={`Position in ${label}`}
        aria-valuetext={`${clock(time)} of ${clock(duration)}`}
        style={{ '--vm-progress': `${progress}%` } as CSSProperties}
        data-testid="vm-seek"
      />
      <span className="vm-player__time" data-testid="vm-time">
        {playerClock(time)} / {playerClock(duration)}
      </span>
      <button type="button" className="button button--ghost button--icon" onClick={() => void download()} aria-label={`Download ${label}`} title="Download the WAV file">
        <Icon name="download" />
      </button>
      {load.kind === 'ready' ? (
        <audio
          ref={audioRef}
          src={load.url}
          preload="auto"
          data-testid="vm-audio"
          onLoadedMetadata={onLoadedMetadata}
          onPlay={() => {
            setPlaying(true);
            if (!played.current) {
              played.current = true;
              onPlayedRef.current?.();
            }
          }}
          onPause={() => setPlaying(false)}
          onEnded={() => {
            setPlaying(false);
            const audio = audioRef.current;
            if (audio) setTime(audio.duration || duration);
          }}
          onTimeUpdate={() => {
            const audio = audioRef.current;
            if (audio && audio.paused) setTime(audio.currentTime);
          }}
        />
      ) : null}
      {load.kind === 'error' ? (
        <p className="vm-player__error" role="alert">
          {load.error.message}{' '}
          <button type="button" className="link-button" onClick={retry}>
            Try again
          </button>
        </p>
      ) : null}
    </div>
  );
}
