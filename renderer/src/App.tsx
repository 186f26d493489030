import { lazy, Suspense, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { AuthProvider } from './auth/AuthContext.js';
import { RequireAuth } from './components/RequireAuth.js';
import { Shell } from './components/Shell.js';
import { StatusProvider } from './lib/StatusContext.js';
import { TimeZoneProvider } from './lib/timeZone.js';
import { ConfigurationPage } from './pages/ConfigurationPage.js';
import { DashboardPage } from './pages/DashboardPage.js';
import { LoginPage } from './pages/LoginPage.js';
import { NotFoundPage, PageLoading, PlaceholderPage, PLANNED } from './pages/PlaceholderPage.js';
import { TokensPage } from './pages/TokensPage.js';

// The call pages load on first visit (their code, with the virtual list, is a chunk of its own).
const ActiveCallsPage = lazy(() => import('./pages/ActiveCallsPage.js').then((m) => ({ default: m.ActiveCallsPage })));
const CallRecordsPage = lazy(() => import('./pages/CallRecordsPage.js').then((m) => ({ default: m.CallRecordsPage })));
const LimitsPage = lazy(() => import('./pages/LimitsPage.js').then((m) => ({ default: m.LimitsPage })));
const SitesPage = lazy(() => import('./pages/SitesPage.js').then((m) => ({ default: m.SitesPage })));
const VoicemailPage = lazy(() => import('./pages/VoicemailPage.js').then((m) => ({ default: m.VoicemailPage })));

function Loading({ children }: { children: ReactNode }) {
  return <Suspense fallback={<PageLoading />}>{children}</Suspense>;
}

export function App() {
  return (
    <BrowserRouter>
      <AuthProvider>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route
            element={
              <RequireAuth>
                <StatusProvider>
                  <TimeZoneProvider>
                    <Shell />
                  </TimeZoneProvider>
                </StatusProvider>
              </RequireAuth>
            }
          >
            <Route index element={<DashboardPage />} />
            <Route path="configuration" element={<ConfigurationPage />} />
            <Route
              path="sites"
              element={
                <Loading>
                  <SitesPage />
                </Loading>
              }
            />
            <Route
              path="calls"
              element={
                <Loading>
                  <ActiveCallsPage />
                </Loading>
              }
            />
            <Route
              path="call-records"
              element={
                <Loading>
                  <CallRecordsPage />
                </Loading>
              }
            />
            <Route
              path="voicemail/*"
              element={
                <Loading>
                  <VoicemailPage />
                </Loading>
              }
            />
            <Route
              path="limits"
              element={
                <Loading>
                  <LimitsPage />
                </Loading>
              }
            />
            <Route path="storage" element={<PlaceholderPage page={PLANNED.storage} />} />
            <Route path="settings" element={<Navigate to="/settings/tokens" replace />} />
            <Route path="settings/tokens" element={<TokensPage />} />
            <Route path="*" element={<NotFoundPage />} />
          </Route>
        </Routes>
      </AuthProvider>
    </BrowserRouter>
  );
}
