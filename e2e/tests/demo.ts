// What the tests share: the running demo's addresses and logins, signing
// in, the API with the demo's admin token, and screenshots as artifacts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, Page, TestInfo } from '@playwright/test';

export interface Demo {
  url: string;
  adminPassword: string;
  token: string;
  mqtt: string;
  portalAccount: string;
  portalPassword: string;
}

export function demo(): Demo {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '.demo.json'), 'utf8'));
}

/** Staff sign-in through the console's own form, in the given language. */
export async function signIn(page: Page, lang: 'zh' | 'en' = 'en') {
  const d = demo();
  await page.goto(`${d.url}/login?lang=${lang}`);
  const form = page.getByTestId('login-form');
  await form.locator('input[name="username"]').fill('admin');
  await form.locator('input[name="password"]').fill(d.adminPassword);
  await form.locator('button[type="submit"]').click();
  await expect(page.getByTestId('dashboard')).toBeVisible();
}

/** The JSON API with the demo's admin token. */
export async function api(method: string, route: string, body?: unknown): Promise<any> {
  const d = demo();
  const r = await fetch(`${d.url}${route}`, {
    method,
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) { throw new Error(`${method} ${route}: ${r.status} ${text}`); }
  return text ? JSON.parse(text) : {};
}

/** Saves a full-page screenshot as a test artifact (and, for the README
 *  pictures, under YUFU_E2E_OUT/screenshots when that is set). */
export async function shot(page: Page, info: TestInfo, name: string) {
  const file = `${name}-${info.project.name}.png`;
  const body = await page.screenshot({ fullPage: true });
  await info.attach(file, { body, contentType: 'image/png' });
  const out = process.env.YUFU_E2E_OUT;
  if (out) {
    fs.mkdirSync(path.join(out, 'screenshots'), { recursive: true });
    fs.writeFileSync(path.join(out, 'screenshots', file), body);
  }
}

/** A demo meter (as the API lists it) by its serial. */
export async function meterBySerial(serial: string): Promise<any> {
  const orgs = await api('GET', '/api/v1/organisations');
  const org = orgs.items.find((o: any) => String(o.name).includes('Demo')) || orgs.items[0];
  const meters = await api('GET', `/api/v1/organisations/${org.id}/meters?limit=200`);
  const meter = meters.items.find((m: any) => m.serial === serial);
  if (!meter) { throw new Error(`no demo meter ${serial}`); }
  return meter;
}
