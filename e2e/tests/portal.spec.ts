// The customer portal: sign in with the demo's printed account login,
// recharge online through the provider simulator, see the balance rise.
import { test, expect } from '@playwright/test';
import { demo, shot } from './demo';

test('a customer recharges online and sees the balance', async ({ page }, info) => {
  const d = demo();
  await page.goto(`${d.url}/portal/login?lang=zh`);
  const form = page.getByTestId('portal-login-form');
  await form.locator('input[name="account_number"]').fill(d.portalAccount);
  await form.locator('input[name="password"]').fill(d.portalPassword);
  await form.locator('button[type="submit"]').click();
  await expect(page.getByTestId('portal-balance')).toBeVisible();
  await expect(page.getByTestId('portal-days-left')).toBeVisible();
  await expect(page.getByTestId('portal-chart')).toBeVisible();
  const before = await page.getByTestId('portal-balance').innerText();
  await page.getByTestId('portal-recharge-amount').fill('30');
  await page.getByTestId('portal-recharge-submit').click();
  await expect(page).toHaveURL(/\/paysim\//);
  await page.getByTestId('paysim-pay').click();
  await expect(page).toHaveURL(/\/portal/);
  await expect(page.getByTestId('portal-balance')).not.toHaveText(before, { timeout: 20_000 });
  await shot(page, info, 'portal');
});
