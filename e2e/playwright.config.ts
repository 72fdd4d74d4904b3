// Yufu's browser tests: the real `yufu demo` binary (started once by
// global-setup.ts) driven by Playwright in Debian's Chromium, at a desk
// size and a phone size. No browser is downloaded: CHROMIUM (default
// /usr/bin/chromium) is used as it is.
import { defineConfig } from '@playwright/test';

const chromium = process.env.CHROMIUM || '/usr/bin/chromium';

export default defineConfig({
  testDir: './tests',
  // One demo, one browser at a time: the tests change shared state.
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  retries: 0,
  reporter: [['list']],
  outputDir: process.env.YUFU_E2E_OUT ? `${process.env.YUFU_E2E_OUT}/results` : 'test-results',
  globalSetup: './global-setup.ts',
  globalTeardown: './global-teardown.ts',
  use: {
    launchOptions: {
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
  projects: [
    { name: 'desktop', use: { viewport: { width: 1280, height: 860 } } },
    {
      name: 'phone',
      use: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
    },
  ],
});
