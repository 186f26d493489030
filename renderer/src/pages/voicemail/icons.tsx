/** Icons the voicemail page needs beyond the console's set (same 24x24 stroke style). */
import type { ReactNode } from 'react';

export type VmIconName = 'play' | 'pause' | 'forward' | 'mail' | 'mail-open' | 'upload' | 'save' | 'inbox' | 'urgent' | 'lock';

const paths: Record<VmIconName, ReactNode> = {
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
};

export function VmIcon({ name, label, className }: { name: VmIconName; label?: string; className?: string }) {
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
