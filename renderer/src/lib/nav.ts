import type { IconName } from '../components/icons.js';

export interface NavItem {
  path: string;
  label: string;
  icon: IconName;
  /** false: the page is a placeholder in this version (shown as "soon" in the navigation) */
  available: boolean;
}

export interface NavSection {
  label: string;
  items: NavItem[];
}

export const NAV: readonly NavSection[] = [
  { label: 'Overview', items: [{ path: '/', label: 'Dashboard', icon: 'dashboard', available: true }] },
  {
    label: 'Calls',
    items: [
      { path: '/calls', label: 'Active calls', icon: 'calls', available: true },
      { path: '/call-records', label: 'Call records', icon: 'records', available: true },
      { path: '/voicemail', label: 'Voicemail', icon: 'voicemail', available: true },
    ],
  },
  {
    label: 'System',
    items: [
      { path: '/configuration', label: 'Configuration', icon: 'configuration', available: true },
      { path: '/sites', label: 'Sites', icon: 'sites', available: true },
      { path: '/limits', label: 'Limits', icon: 'limits', available: true },
      { path: '/storage', label: 'Storage', icon: 'storage', available: false },
    ],
  },
  { label: 'Settings', items: [{ path: '/settings/tokens', label: 'API tokens', icon: 'key', available: true }] },
];
