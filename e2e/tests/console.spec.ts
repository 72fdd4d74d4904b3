// The console as staff use it: sign in, dashboard, language, search a
// meter, trip and reconnect it, take a counter recharge and watch the
// balance and reconnect, acknowledge and resolve an alarm. Run at desk and
// phone sizes (playwright.config.ts projects).
import { test, expect } from '@playwright/test';
import mqtt from 'mqtt';
import { api, demo, meterBySerial, shot, signIn } from './demo';

// Household electricity meters the demo simulates over MQTT, so commands
// are honoured and acknowledged by a (simulated) device.
const METER = { desktop: 'E-GZ-000005', phone: 'E-GZ-000006' };
const ACCOUNT = { desktop: 'GZ000007', phone: 'GZ000008' };

test('sign in, see the live dashboard, switch language', async ({ page }, info) => {
  await signIn(page, 'en');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('[data-k="meters.electricity.in_service"]')).toHaveText(/^\d+$/);
  await expect(page.locator('[data-k="accounts.total"]')).toHaveText('36');
  // The figures follow by server-sent events.
  await expect(page.getByTestId('dashboard')).toHaveAttribute('data-updated', /\d+/, { timeout: 20_000 });
  await page.getByTestId('lang-switch').click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.locator('h1')).toHaveText('总览');
  await shot(page, info, 'dashboard');
  // The choice is remembered on the next page.
  await page.goto(`${demo().url}/alarms`);
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await page.getByTestId('lang-switch').click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
});

test('search a meter, trip it and reconnect it', async ({ page }, info) => {
  const serial = METER[info.project.name as 'desktop' | 'phone'];
  await signIn(page, 'en');
  await page.getByTestId('global-search').fill(serial);
  await page.getByTestId('global-search').press('Enter');
  await expect(page).toHaveURL(/\/meters\//);
  await expect(page.locator('h1')).toContainText(serial);
  await expect(page.getByTestId('consumption-chart')).toBeVisible();
  page.on('dialog', (d) => d.accept());
  await page.getByTestId('cmd-trip').click();
  await expect(page.getByTestId('commands-table')).toContainText(/trip/i);
  await expect(page.getByTestId('relay-state')).toContainText(/off|open|tripped/i, { timeout: 30_000 });
  await page.getByTestId('cmd-close').click();
  await expect(page.getByTestId('relay-state')).toContainText(/on|closed/i, { timeout: 30_000 });
  await shot(page, info, 'meter');
});

test('counter recharge shows the new balance and the reconnect', async ({ page }, info) => {
  const number = ACCOUNT[info.project.name as 'desktop' | 'phone'];
  // Put the account below its cut-off the way an operator would: a cut-off
  // level 50 yuan above its balance. The engine cuts the supply at the next
  // reading (the simulated meters report every 5 s) and the meters trip.
  const meter = await meterBySerial(`E-GZ-${number.slice(2)}`);
  const account = meter.account_id;
  const { balance_fen } = await api('GET', `/api/v1/accounts/${account}/balance`);
  await api('PUT', `/api/v1/accounts/${account}/balance-rules`, { warnings_fen: [], cutoff_fen: balance_fen + 5000 });
  try {
    await signIn(page, 'en');
    await page.goto(`${demo().url}/counter`);
    await page.getByTestId('counter-search').fill(number);
    await page.getByTestId('counter-search').press('Enter');
    await expect(page.getByTestId('counter-account')).toContainText(number);
    // The cut shows on the counter (the page follows it by itself).
    // (Opened before the next reading, the page shows the account still
    // supplied and has nothing to follow yet: look again until the cut.)
    await expect(async () => {
      await page.reload();
      await expect(page.locator('[data-testid="reconnect-status"] [data-state="cut"]').first()).toBeVisible({ timeout: 3_000 });
    }).toPass({ timeout: 60_000 });
    const before = await page.getByTestId('counter-balance').innerText();
    await page.getByTestId('recharge-amount').fill('88.50');
    page.on('dialog', (d) => d.accept());
    await page.getByTestId('recharge-submit').click();
    await expect(page.getByTestId('counter-receipt')).toContainText('88.50');
    await expect(page.getByTestId('counter-balance')).not.toHaveText(before);
    await expect(page.getByTestId('print-receipt')).toBeVisible();
    // The recharge lifts the balance over the cut-off: the reconnect follows.
    await expect(page.locator('[data-testid="reconnect-status"] [data-state="reconnected"]').first()).toBeVisible({ timeout: 45_000 });
    await shot(page, info, 'counter');
  } finally {
    await api('DELETE', `/api/v1/accounts/${account}/balance-rules`);
  }
});

test('acknowledge and resolve an alarm', async ({ page }, info) => {
  const d = demo();
  // A real device event: a meter reports its cover opened over MQTT.
  const meter = await meterBySerial(info.project.name === 'desktop' ? 'E-GZ-000009' : 'E-GZ-000010');
  const { token } = await api('POST', `/api/v1/meters/${meter.id}/device-token`);
  const [host, port] = d.mqtt.split(':');
  const client = await mqtt.connectAsync({ host, port: Number(port), username: token, protocolVersion: 4, reconnectPeriod: 0 });
  await client.publishAsync('v1/devices/me/telemetry', JSON.stringify({ event: 'cover_open' }), { qos: 1 });
  await client.endAsync();

  await signIn(page, 'en');
  await page.goto(`${d.url}/alarms?state=open`);
  const row = page.getByTestId('alarm-row').filter({ hasText: meter.serial }).filter({ hasText: /cover/i }).first();
  await expect(row).toBeVisible({ timeout: 30_000 });
  page.on('dialog', (dl) => dl.accept());
  const id = await row.getAttribute('data-alarm-id');
  await row.getByTestId('alarm-ack').click();
  // The page reloads once the API has answered.
  const mine = page.locator(`[data-testid="alarm-row"][data-alarm-id="${id}"]`);
  await expect(mine).toHaveAttribute('data-state', 'acknowledged');
  await mine.getByTestId('alarm-note').fill('Cover refitted and sealed on site');
  await mine.getByTestId('alarm-resolve').click();
  await expect(page.locator(`[data-testid="alarm-row"][data-alarm-id="${id}"]`)).toHaveCount(0);
  await page.goto(`${d.url}/alarms?state=resolved`);
  await expect(page.locator(`[data-testid="alarm-row"][data-alarm-id="${id}"]`)).toContainText('Cover refitted');
  await shot(page, info, 'alarms');
});
