import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { AuthProvider } from './auth/AuthContext.js';
import { RequireAuth } from './components/RequireAuth.js';
import { Shell } from './components/Shell.js';
import { StatusProvider } from './lib/StatusContext.js';
import { ConfigurationPage } from './pages/ConfigurationPage.js';
import { DashboardPage } from './pages/DashboardPage.js';
import { LoginPage } from './pages/LoginPage.js';
import { NotFoundPage, PlaceholderPage, PLANNED } from './pages/PlaceholderPage.js';
import { TokensPage } from './pages/TokensPage.js';

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
                  <Shell />
                </StatusProvider>
              </RequireAuth>
            }
          >
            <Route index element={<DashboardPage />} />
            <Route path="configuration" element={<ConfigurationPage />} />
            <Route path="sites" element={<PlaceholderPage page={PLANNED.sites} />} />
            <Route path="calls" element={<PlaceholderPage page={PLANNED.calls} />} />
            <Route path="call-records" element={<PlaceholderPage page={PLANNED.callRecords} />} />
            <Route path="voicemail" element={<PlaceholderPage page={PLANNED.voicemail} />} />
            <Route path="limits" element={<PlaceholderPage page={PLANNED.limits} />} />
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
