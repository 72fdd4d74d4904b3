// The device lifecycle in the console: a delivered device of the demo's
// contract HT-2026-0001 is checked, stocked, planned into a unit by a
// certified installer, installed after a failed and then a passed
// checklist, refused by commissioning (no device answers it), removed and
// scrapped — and its history shows every state. The contract's delivery
// progress and the supplier scorecard are read on the way.
import { test, expect, Page } from '@playwright/test';
import { api, demo, meterBySerial, shot, signIn } from './demo';

// The demo seeds two devices awaiting their acceptance check.
const DEVICE = { desktop: 'DEMO-E-0006', phone: 'DEMO-E-0004' };
// Units (with their account and tariff) the devices are installed into.
const HOUSEHOLD = { desktop: 'E-GZ-000011', phone: 'E-GZ-000012' };

async function deviceId(serial: string): Promise<string> {
  const page = await api('GET', `/api/v1/devices?serial=${serial}`);
  const items = page.items ?? page;
  const d = items.find((x: any) => x.serial === serial);
  if (!d) { throw new Error(`no device ${serial}`); }
  return d.meter_id;
}

async function expectState(page: Page, text: RegExp) {
  await expect(page.getByTestId('device-state')).toHaveText(text, { timeout: 30_000 });
}

test('a device from delivery to scrapyard, with its history', async ({ page }, info) => {
  test.setTimeout(180_000);
  const project = info.project.name as 'desktop' | 'phone';
  const serial = DEVICE[project];
  const id = await deviceId(serial);
  const household = await meterBySerial(HOUSEHOLD[project]);
  page.on('dialog', (d) => d.accept());
  await signIn(page, 'en');

  // The register finds it awaiting its check.
  await page.goto(`${demo().url}/devices?serial=${serial}`);
  await expect(page.getByTestId('device-row').first()).toHaveAttribute('data-state', 'received');
  await page.goto(`${demo().url}/devices/${id}`);
  await expectState(page, /received/i);

  // Acceptance (到货验收): all three checks pass.
  await page.getByTestId('check-submit').click();
  await expectState(page, /accepted/i);
  // Into the store room.
  await page.getByTestId('move-action').selectOption('stock');
  await page.getByTestId('move-reason').fill('shelf B3');
  await page.getByTestId('move-submit').click();
  await expectState(page, /in stock/i);

  // Installation plan: the demo's admin holds an electricity certification.
  await page.getByTestId('plan-install').click();
  await expect(page).toHaveURL(/\/installations/);
  const plan = page.getByTestId('form-plan');
  await expect(page.getByTestId('plan-meter')).toHaveValue(id);
  await page.getByTestId('plan-unit').fill(household.unit_id);
  await plan.locator('input[name="account_id"]').fill(household.account_id);
  await plan.locator('input[name="tariff_code"]').fill(household.tariff_code);
  // The installer: the demo's admin (labels differ by language).
  const admin = await page.getByTestId('plan-installer').locator('option', { hasText: 'admin' }).first().getAttribute('value');
  await page.getByTestId('plan-installer').selectOption(admin!);
  await page.getByTestId('plan-submit').click();
  const details = page.locator('details', { hasText: serial });
  await expect(details).toBeVisible();
  await details.locator('summary').click();
  const complete = details.getByTestId('form-complete');
  // A failed checklist item is refused and said inline.
  await complete.getByTestId('complete-wiring').check();
  await complete.getByTestId('complete-opening').fill('1000');
  await complete.getByTestId('complete-submit').click();
  await expect(complete.getByTestId('complete-error')).toContainText(/grounding/);
  await complete.getByTestId('complete-grounding').check();
  await complete.getByTestId('complete-submit').click();
  await expect(page).toHaveURL(new RegExp(`/devices/${id}`));
  await expectState(page, /installed/i);

  // Commissioning: nothing answers this meter, so the reading step fails
  // and the device stays installed with the reason.
  await page.getByTestId('commission-submit').click();
  await expect(page.getByTestId('run-outcome').first()).toContainText(/failed/i, { timeout: 90_000 });
  await expectState(page, /installed/i);

  // Removal and scrapping (报废) with the disposal record.
  await page.getByTestId('remove-reason').fill('commissioning failed: returned to the workshop');
  await page.getByTestId('remove-submit').click();
  await expectState(page, /removed/i);
  await page.getByTestId('scrap-reason').fill('no reading at commissioning');
  await page.getByTestId('scrap-record').fill(`GZ-RC-${project}`);
  await page.getByTestId('scrap-submit').click();
  await expectState(page, /scrapped/i);
  await expect(page.getByTestId('device-disposal')).toContainText(`GZ-RC-${project}`);

  // The history: every state, in order, with who and why.
  const rows = page.getByTestId('history-row');
  const text = (await rows.allInnerTexts()).join('\n');
  let at = 0;
  for (const s of ['Ordered', 'Received', 'Accepted', 'In stock', 'Installed', 'Removed', 'Scrapped']) {
    const i = text.indexOf(s, at);
    expect(i, `${s} after position ${at} in:\n${text}`).toBeGreaterThanOrEqual(0);
    at = i;
  }
  await shot(page, info, 'device');

  // The same page in Chinese.
  await page.goto(`${demo().url}/devices/${id}?lang=zh`);
  await expect(page.getByTestId('device-state')).toHaveText(/已报废/);
  await page.goto(`${demo().url}/devices/${id}?lang=en`);
});

test('contract delivery progress and the supplier scorecard', async ({ page }, info) => {
  await signIn(page, 'en');
  await page.goto(`${demo().url}/procurement`);
  const row = page.getByTestId('contract-row').filter({ hasText: 'HT-2026-0001' });
  await expect(row).toBeVisible();
  await row.locator('a').first().click();
  await expect(page).toHaveURL(/\/procurement\/contracts\//);
  await expect(page.getByTestId('contract-lines')).toBeVisible();
  await expect(page.getByTestId('contract-line')).toHaveCount(2);
  // 6 × 305.00 + 4 × 248.00 + 300.00 + 600.00 + 200.00
  await expect(page.getByTestId('total-all')).toContainText(/3,?922\.00/);
  await shot(page, info, 'contract');
  await page.goto(`${demo().url}/procurement`);
  await page.getByRole('link', { name: /Suineng/ }).first().click();
  await expect(page.getByTestId('supplier-score')).toBeVisible();
  await expect(page.getByTestId('qualification').filter({ hasText: 'ISO 9001' })).toHaveAttribute('data-expired', 'true');

  // Demand (需求评估): 12 of the demo's 36 units have no gas meter.
  await page.goto(`${demo().url}/sites`);
  await page.locator('main a[href^="/sites/"]').first().click();
  await page.getByTestId('demand-show').click();
  const gas = page.getByTestId('demand-row').filter({ hasText: 'Gas' });
  await expect(gas).toContainText('G2.5-IC');
  await expect(gas.locator('td').nth(2)).toHaveText('12');
});
