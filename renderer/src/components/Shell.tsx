import { useEffect, useRef, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import type { DesktopInfo } from '../../../shared/ipc.js';
import { useAuth } from '../auth/AuthContext.js';
import { desktopBridge } from '../desktop.js';
import { NAV } from '../lib/nav.js';
import { useStatus } from '../lib/StatusContext.js';
import { Icon } from './icons.js';
import { ConfirmDialog, Skeleton } from './ui.js';

function Brand() {
  return (
    <div className="brand">
      <svg className="brand__mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
        <rect width="32" height="32" rx="7" />
        <path d="M11.2 7.5c.6-.2 1.3 0 1.6.6l1.6 3.4c.3.6.1 1.3-.4 1.7l-1.7 1.3a11 11 0 0 0 4.9 4.9l1.3-1.7c.4-.5 1.1-.7 1.7-.4l3.4 1.6c.6.3.9 1 .7 1.6l-.7 2.4c-.2.7-.9 1.2-1.6 1.1C14 23.3 8.7 18 7.9 10.8c-.1-.7.4-1.4 1.1-1.6z" />
      </svg>
      <span className="brand__name">Sitecall</span>
    </div>
  );
}

/** "Open in browser" and "Quit": only inside the Electron shell, which exposes window.sitecallDesktop. */
function DesktopActions() {
  const bridge = desktopBridge();
  const [info, setInfo] = useState<DesktopInfo | null>(null);
  const [confirmQuit, setConfirmQuit] = useState(false);
  useEffect(() => {
    bridge?.info().then(setInfo, () => setInfo(null));
  }, [bridge]);
  if (!bridge) return null;
  const quit = () => {
    if (info?.ownsService) setConfirmQuit(true);
    else void bridge.quit();
  };
  return (
    <>
      <button type="button" className="button button--ghost" onClick={() => void bridge.openInBrowser()}>
        <Icon name="external" />
        Open in browser
      </button>
      <button type="button" className="button button--ghost" onClick={quit}>
        <Icon name="power" />
        Quit
      </button>
      <ConfirmDialog
        open={confirmQuit}
        title="Quit Sitecall?"
        confirmLabel="Quit and stop the service"
        busyLabel="Quitting…"
        busy={false}
        onConfirm={() => void bridge.quit()}
        onCancel={() => setConfirmQuit(false)}
      >
        <p>
          This window started the Sitecall service. Quitting stops it: the phone system gets no call records or voicemail
          service from this site until Sitecall starts again.
        </p>
      </ConfirmDialog>
    </>
  );
}

export function Shell() {
  const { session, signOut } = useAuth();
  const status = useStatus();
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const [signingOut, setSigningOut] = useState(false);
  const firstRender = useRef(true);

  // After a navigation, move focus to the new page's heading so keyboard and screen-reader users start there.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return undefined;
    }
    const main = mainRef.current;
    main?.scrollTo({ top: 0 });
    if (!main) return undefined;
    const focusHeading = (): boolean => {
      const heading = main.querySelector<HTMLElement>('h1');
      heading?.focus({ preventScroll: true });
      return heading !== null;
    };
    if (focusHeading()) return undefined;
    // A page whose code is still loading has no heading yet: focus it as soon as it appears.
    const observer = new MutationObserver(() => {
      if (focusHeading()) observer.disconnect();
    });
    observer.observe(main, { childList: true, subtree: true });
    const timer = window.setTimeout(() => observer.disconnect(), 5000);
    return () => {
      observer.disconnect();
      window.clearTimeout(timer);
    };
  }, [location.pathname]);

  const siteName = status.data?.site.name;
  return (
    <div className="shell">
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="topbar">
        <Brand />
        <div className="topbar__site">
          <span className="topbar__label">Site</span>
          {siteName ? (
            <span className="topbar__site-name" data-testid="header-site">
              {siteName}
            </span>
          ) : status.error ? (
            <span className="topbar__site-name topbar__site-name--unknown">unknown</span>
          ) : (
            <Skeleton className="skeleton--inline" />
          )}
        </div>
        <div className="topbar__actions">
          <DesktopActions />
          <span className="topbar__user" title="Logged-in user">
            <Icon name="user" />
            <span className="visually-hidden">Logged in as </span>
            {session?.username}
          </span>
          <button
            type="button"
            className="button button--ghost"
            disabled={signingOut}
            onClick={() => {
              setSigningOut(true);
              void signOut();
            }}
          >
            <Icon name="logout" />
            {signingOut ? 'Logging out…' : 'Log out'}
          </button>
        </div>
      </header>
      <nav className="sidebar" aria-label="Main">
        {NAV.map((section) => (
          <div className="nav-section" key={section.label}>
            <h2 className="nav-section__label">{section.label}</h2>
            <ul className="nav-list">
              {section.items.map((item) => (
                <li key={item.path}>
                  <NavLink to={item.path} end={item.path === '/'} className="nav-link">
                    <Icon name={item.icon} />
                    <span className="nav-link__label">{item.label}</span>
                    {item.available ? null : (
                      <span className="nav-link__soon" aria-hidden="true" title="Not available in this version yet">
                        soon
                      </span>
                    )}
                  </NavLink>
                </li>
              ))}
            </ul>
          </div>
        ))}
        <p className="sidebar__footer">{status.data ? `Sitecall ${status.data.version}` : 'Sitecall'}</p>
      </nav>
      <main id="main" ref={mainRef} className="content">
        <div className="content__inner">
          <Outlet />
        </div>
      </main>
    </div>
  );
}
