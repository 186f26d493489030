import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests of the console against the real service (test/support/service.ts starts it).
 * Chromium is Debian's (`apt-get install chromium`); Playwright's own download does not work here.
 * Flags per shared/notes/chromium.md; Playwright adds --headless and a fresh --user-data-dir itself.
 */
export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results',
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env['CI'],
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env['SITECALL_CHROMIUM'] ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    // The console in Debian's Chromium: testDir and `use` above.
    { name: 'e2e' },
    // The Electron shell (Playwright's _electron); skipped with the reason when Electron's binary is absent.
    { name: 'electron', testDir: 'test/electron', timeout: 120_000 },
  ],
});
