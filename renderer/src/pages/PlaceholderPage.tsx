import { Link } from 'react-router';
import type { IconName } from '../components/icons.js';
import { EmptyState, LoadingRegion, PageHeader, Skeleton, SkeletonTable } from '../components/ui.js';
import { useTitle } from '../lib/useTitle.js';

export interface PlannedPage {
  title: string;
  icon: IconName;
  /** one sentence: what the page is for */
  summary: string;
  /** what it will let the admin do */
  planned: string[];
}

/** The pages a later version fills. Each says plainly what it will do; none shows invented data. */
export const PLANNED: Record<'sites' | 'voicemail' | 'limits' | 'storage', PlannedPage> = {
  sites: {
    title: 'Sites',
    icon: 'sites',
    summary:
      "Pair this appliance with Sitecall at your other offices, so the sites keep each other's call records and voicemail in step and one takes over when another is down.",
    planned: [
      'Pair a site with a one-time pairing code',
      "See each peer's connection state, round-trip time and replication lag",
      'Unpair a site',
    ],
  },
  voicemail: {
    title: 'Voicemail',
    icon: 'voicemail',
    summary: 'Manage the mailboxes of each domain and listen to their messages.',
    planned: [
      'Create and edit mailboxes: number, name, PIN, e-mail and limits',
      'Play messages, move them between folders and delete them',
      'Manage greetings and see message-waiting counts',
    ],
  },
  limits: {
    title: 'Limits',
    icon: 'limits',
    summary: 'Cap how many calls run at once, per profile, so the phone system refuses the ones over the limit.',
    planned: [
      'See the call-limit profiles and how many calls each counts now',
      'Set a maximum for a profile, or for one value of it such as a domain',
      'Remove a limit',
    ],
  },
  storage: {
    title: 'Storage',
    icon: 'storage',
    summary: 'Choose where call records, voicemail audio and attachments are kept.',
    planned: [
      'See the storage plans and which store holds each kind of data',
      'Point call records at an external database when one machine is no longer enough',
      'See how much space each store uses',
    ],
  },
};

export function PlaceholderPage({ page }: { page: PlannedPage }) {
  useTitle(page.title);
  return (
    <>
      <PageHeader title={page.title} description={page.summary} />
      <div className="panel">
        <EmptyState icon={page.icon} title="Not available in this version yet">
          <p>This page is planned. When it arrives it will let you:</p>
          <ul className="planned-list">
            {page.planned.map((item) => (
              <li key={item}>{item}</li>
            ))}
          </ul>
        </EmptyState>
      </div>
    </>
  );
}

export function NotFoundPage() {
  useTitle('Page not found');
  return (
    <>
      <PageHeader title="Page not found" />
      <div className="panel">
        <EmptyState
          icon="compass"
          title="There is no page at this address"
          actions={
            <Link to="/" className="button button--primary">
              Go to the dashboard
            </Link>
          }
        >
          <p>The link may be mistyped, or it points to a page from another version of Sitecall.</p>
        </EmptyState>
      </div>
    </>
  );
}

/** What shows while the code of a page loads (a moment, on its first visit). */
export function PageLoading() {
  return (
    <LoadingRegion label="Loading the page…">
      <div className="page-header">
        <Skeleton className="skeleton--value" />
      </div>
      <div className="panel">
        <SkeletonTable rows={4} columns={['wide', 'short', 'wide', 'short']} padded />
      </div>
    </LoadingRegion>
  );
}
