/** A small hand-drawn stroke icon set (24x24, currentColor); decorative unless given a label. */
import type { ReactNode } from 'react';

export type IconName =
  | 'dashboard'
  | 'configuration'
  | 'sites'
  | 'calls'
  | 'records'
  | 'voicemail'
  | 'limits'
  | 'storage'
  | 'key'
  | 'logout'
  | 'refresh'
  | 'copy'
  | 'check'
  | 'alert'
  | 'info'
  | 'external'
  | 'power'
  | 'user'
  | 'plus'
  | 'trash'
  | 'compass'
  | 'close'
  | 'edit'
  | 'undo'
  | 'search'
  | 'download'
  | 'chevron-left'
  | 'chevron-right'
  | 'chevrons-left'
  | 'chevrons-right'
  | 'sort-up'
  | 'sort-down'
  | 'sort'
  | 'stop'
  | 'clock'
  | 'arrow-in'
  | 'arrow-out'
  | 'arrow-internal'
  | 'play'
  | 'pause'
  | 'forward'
  | 'mail'
  | 'mail-open'
  | 'upload'
  | 'save'
  | 'inbox'
  | 'urgent'
  | 'lock';

const paths: Record<IconName, ReactNode> = {
  dashboard: (
    <>
      <rect x="3.5" y="3.5" width="7" height="9" rx="1.5" />
      <rect x="13.5" y="3.5" width="7" height="5" rx="1.5" />
      <rect x="13.5" y="11.5" width="7" height="9" rx="1.5" />
      <rect x="3.5" y="15.5" width="7" height="5" rx="1.5" />
    </>
  ),
  configuration: (
    <>
      <path d="M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1" />
      <circle cx="15" cy="6" r="2" />
      <circle cx="9" cy="12" r="2" />
      <circle cx="17" cy="18" r="2" />
    </>
  ),
  sites: (
    <>
      <circle cx="12" cy="12" r="8.5" />
      <path d="M3.5 12h17M12 3.5c2.5 2.4 3.6 5.2 3.6 8.5s-1.1 6.1-3.6 8.5M12 3.5C9.5 5.9 8.4 8.7 8.4 12s1.1 6.1 3.6 8.5" />
    </>
  ),
  calls: <path d="M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2z" />,
  records: (
    <>
      <rect x="4.5" y="3.5" width="15" height="17" rx="2" />
      <path d="M8.5 8h7M8.5 12h7M8.5 16h4" />
    </>
  ),
  voicemail: (
    <>
      <circle cx="6.5" cy="12" r="3.5" />
      <circle cx="17.5" cy="12" r="3.5" />
      <path d="M6.5 15.5h11" />
    </>
  ),
  limits: (
    <>
      <path d="M4 17a8 8 0 1 1 16 0" />
      <path d="M12 17l3.5-4.5M4 20.5h16" />
    </>
  ),
  storage: (
    <>
      <ellipse cx="12" cy="6" rx="7.5" ry="2.8" />
      <path d="M4.5 6v12c0 1.5 3.4 2.8 7.5 2.8s7.5-1.3 7.5-2.8V6M4.5 12c0 1.5 3.4 2.8 7.5 2.8s7.5-1.3 7.5-2.8" />
    </>
  ),
  key: (
    <>
      <circle cx="8" cy="15.5" r="4" />
      <path d="M10.9 12.6 19.5 4M15.5 8l2.5 2.5M13.5 10l1.8 1.8" />
    </>
  ),
  logout: <path d="M9.5 4.5H6.5a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h3M15.5 16.5 20 12l-4.5-4.5M20 12H9.5" />,
  refresh: <path d="M19.5 11.5a7.5 7.5 0 1 0-2.2 5.3M19.5 4.5v7h-7" />,
  copy: (
    <>
      <rect x="8.5" y="8.5" width="11.5" height="11.5" rx="2" />
      <path d="M15.5 8.5V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v7.5a2 2 0 0 0 2 2h2.5" />
    </>
  ),
  check: <path d="M5 12.5l4.5 4.5L19 7.5" />,
  alert: <path d="M12 4 2.8 19.5h18.4zM12 10v4.5M12 17h.01" />,
  info: (
    <>
      <circle cx="12" cy="12" r="8.5" />
      <path d="M12 8h.01M11 11.5h1v5h1" />
    </>
  ),
  external: <path d="M14 4h6v6M20 4l-8.5 8.5M18 14v4a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h4" />,
  power: <path d="M12 3.5V12M6.7 6.8a7.5 7.5 0 1 0 10.6 0" />,
  user: (
    <>
      <circle cx="12" cy="8" r="3.8" />
      <path d="M4.5 20.5a7.5 7.5 0 0 1 15 0" />
    </>
  ),
  plus: <path d="M12 5v14M5 12h14" />,
  trash: <path d="M4.5 7h15M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4.5h6V7" />,
  close: <path d="M6 6l12 12M18 6 6 18" />,
  edit: <path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16zM13.5 6.5l4 4" />,
  undo: <path d="M9 14 4 9l5-5M4 9h10.5a5.5 5.5 0 0 1 0 11H11" />,
  search: (
    <>
      <circle cx="11" cy="11" r="6.5" />
      <path d="m20 20-4.3-4.3" />
    </>
  ),
  download: <path d="M12 4v11M7 10.5l5 5 5-5M4.5 19.5h15" />,
  'chevron-left': <path d="M14.5 6 8.5 12l6 6" />,
  'chevron-right': <path d="M9.5 6l6 6-6 6" />,
  'chevrons-left': <path d="M12 6l-6 6 6 6M18 6l-6 6 6 6" />,
  'chevrons-right': <path d="M6 6l6 6-6 6M12 6l6 6-6 6" />,
  'sort-up': <path d="M12 18V6M7 11l5-5 5 5" />,
  'sort-down': <path d="M12 6v12M7 13l5 5 5-5" />,
  sort: <path d="M8 9l4-4 4 4M8 15l4 4 4-4" />,
  stop: <rect x="6.5" y="6.5" width="11" height="11" rx="1.5" />,
  clock: (
    <>
      <circle cx="12" cy="12" r="8.5" />
      <path d="M12 7.5V12l3 2" />
    </>
  ),
  'arrow-in': <path d="M17 7 7 17M7 9v8h8" />,
  'arrow-out': <path d="M7 17 17 7M9 7h8v8" />,
  'arrow-internal': <path d="M4.5 9h14l-3.5-3.5M19.5 15h-14l3.5 3.5" />,
  play: <path d="M7.5 5.2v13.6a.8.8 0 0 0 1.2.7l10.6-6.8a.8.8 0 0 0 0-1.4L8.7 4.5a.8.8 0 0 0-1.2.7z" fill="currentColor" />,
  pause: (
    <>
      <rect x="6.5" y="5" width="3.5" height="14" rx="1" fill="currentColor" />
      <rect x="14" y="5" width="3.5" height="14" rx="1" fill="currentColor" />
    </>
  ),
  forward: <path d="M14 5l6 6-6 6M20 11H9.5A5.5 5.5 0 0 0 4 16.5V19" />,
  mail: (
    <>
      <rect x="3.5" y="5.5" width="17" height="13" rx="2" />
      <path d="m4 7 8 6 8-6" />
    </>
  ),
  'mail-open': (
    <>
      <path d="M3.5 10.5v8a2 2 0 0 0 2 2h13a2 2 0 0 0 2-2v-8L12 4.5z" />
      <path d="m4 11 8 5.5 8-5.5" />
    </>
  ),
  upload: <path d="M12 16V5M7 9.5l5-5 5 5M4.5 19.5h15" />,
  save: <path d="M5 4.5h11l3.5 3.5v11.5a1 1 0 0 1-1 1h-13.5a1 1 0 0 1-1-1v-14a1 1 0 0 1 1-1zM8 4.5v5h7v-5M8 20.5v-6h8v6" />,
  inbox: <path d="M4 13.5 6.5 5.5h11l2.5 8M4 13.5V18.5a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-5M4 13.5h4.5l1 2h5l1-2H20" />,
  urgent: <path d="M12 4v10M12 19h.01" />,
  lock: (
    <>
      <rect x="5" y="10.5" width="14" height="9.5" rx="2" />
      <path d="M8.5 10.5V8a3.5 3.5 0 0 1 7 0v2.5" />
    </>
  ),
  compass: (
    <>
      <circle cx="12" cy="12" r="8.5" />
      <path d="m15.5 8.5-2 5-5 2 2-5z" />
    </>
  ),
};

export function Icon({ name, label, className }: { name: IconName; label?: string; className?: string }) {
  return (
    <svg
      className={className ? `icon ${className}` : 'icon'}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.75}
      strokeLinecap="round"
      strokeLinejoin="round"
      role={label ? 'img' : undefined}
      aria-label={label}
      aria-hidden={label ? undefined : true}
      focusable="false"
    >
      {paths[name]}
    </svg>
  );
}
