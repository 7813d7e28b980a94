// Single sign-on and roles, end to end: every demo user signs in through the real local OpenID provider
// (end2end/idp/server.mjs) and the test checks what that role may see and do in the console — in the header, the
// navigation, the pages and the HTTP status the server answers. Every page is watched for Content-Security-Policy
// violations and uncaught errors (see ./auth.mjs).
import { test, expect, signIn, signOut, submitLogin, consoleOrigin, watchPage, USERS } from './auth.mjs';
import { mkdirSync } from 'node:fs';

const screenshots = new URL('../screenshots/', import.meta.url).pathname;
mkdirSync(screenshots, { recursive: true });

const nav = (page) => page.locator('header.topbar nav[aria-label="Main"]');
const navLink = (page, name) => nav(page).getByRole('link', { name, exact: true });

async function expectHeader(page, user) {
  const header = page.locator('header.topbar');
  await expect(header.locator('.user-name')).toHaveAttribute('data-user', user);
  await expect(header.locator('.user-name')).toHaveText(USERS[user].name);
  await expect(header.locator('.user-roles')).toHaveAttribute('data-roles', USERS[user].roles);
  await expect(header.locator('#sign-out')).toBeVisible();
  await expect(navLink(page, 'Overview')).toBeVisible();
}

/// Opens `path` directly: the server must answer 403 with the "Not allowed" panel (and still 403-looking once
/// hydrated).
async function expectNotAllowed(page, path) {
  const response = await page.goto(path);
  expect(response.status(), `HTTP status of ${path}`).toBe(403);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const panel = page.locator('section.error-panel');
  await expect(panel).toBeVisible();
  await expect(panel.getByRole('heading')).toHaveText('Not allowed');
  await expect(page.locator('table')).toHaveCount(0);
}

/// The actor column of the audit table, without the roles printed under each name.
async function actors(page) {
  return page.locator('table.audit-table tbody tr[data-seq]').evaluateAll((rows) => rows.map((row) => {
    const cell = row.cells[2].cloneNode(true);
    cell.querySelectorAll('div').forEach((d) => d.remove());
    return cell.textContent.trim();
  }));
}

test('a visit before sign-in goes to the provider and comes back to the page asked for, query included', async ({ page }) => {
  const landing = await page.goto('/env/production?x=1');
  // Walk the redirect chain back to the console's own answer to the first request.
  let first = landing.request();
  while (first.redirectedFrom()) first = first.redirectedFrom();
  const refusal = await first.response();
  expect(refusal.url()).toBe(`${consoleOrigin()}/env/production?x=1`);
  expect(refusal.status()).toBe(303);
  expect(refusal.headers().location).toBe('/auth/login?return_to=%2Fenv%2Fproduction%3Fx%3D1');

  await submitLogin(page, 'vera');
  await page.waitForURL(`${consoleOrigin()}/env/production?x=1`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expectHeader(page, 'vera');
  await expect(page.locator('section[data-environment="production"]')).toBeVisible();
  await expect(page.locator('section[data-environment="staging"]')).toHaveCount(0);
});

test('sign-out goes through the provider\'s confirmation to the signed-out page; the next visit asks for the password', async ({ page }) => {
  await signIn(page, 'vera');
  await expectHeader(page, 'vera');
  await signOut(page);
  await expect(page.locator('header.topbar .user-name')).toHaveCount(0);

  // Signed out of the console and of the provider: the password is asked for again, not skipped.
  await page.goto('/');
  expect(new URL(page.url()).origin).not.toBe(consoleOrigin());
  await expect(page.locator('#password')).toBeVisible();
  await expect(page.locator('#password')).toHaveValue('');
});

for (const user of ['vera', 'eddie', 'rita']) {
  test(`${user} (${USERS[user].roles}) sees the console but neither the audit trail nor API tokens`, async ({ page }) => {
    await signIn(page, user);
    await expectHeader(page, user);
    await expect(page.locator('section[data-environment="production"]')).toBeVisible();
    await expect(navLink(page, 'Audit')).toHaveCount(0);
    await expect(navLink(page, 'API tokens')).toHaveCount(0);

    await expectNotAllowed(page, '/audit');
    await expect(page.locator('#verify-chain')).toHaveCount(0);
    await expectNotAllowed(page, '/admin/tokens');
    await expect(page.locator('#create-token')).toHaveCount(0);
    // Still signed in after the refusals.
    await expectHeader(page, user);
  });
}

test('audrey (auditor) reads, filters and verifies the audit trail, and may not manage API tokens', async ({ page, browser }) => {
  // Someone else signs in first (in a browser of their own), so that the filter has something to leave out.
  const other = await browser.newContext({ baseURL: consoleOrigin() });
  const otherPage = await other.newPage();
  const otherSeen = watchPage(otherPage);
  await signIn(otherPage, 'vera');
  await other.close();
  expect(otherSeen.violations).toEqual([]);

  await signIn(page, 'audrey');
  await expectHeader(page, 'audrey');
  await expect(navLink(page, 'API tokens')).toHaveCount(0);
  await navLink(page, 'Audit').click();
  await page.waitForURL(`${consoleOrigin()}/audit`);
  await expect(page).toHaveTitle(/Audit trail · Signalbox/);

  const table = page.locator('table.audit-table');
  await expect(table).toBeVisible();
  const ownSignIn = table.locator('tr[data-action="auth.sign_in"][data-outcome="allowed"]').filter({ hasText: 'audrey' });
  await expect(ownSignIn.first()).toBeVisible();
  await expect(table.locator('tr[data-action="auth.sign_in"]').filter({ hasText: 'vera' }).first()).toBeVisible();
  const before = await actors(page);
  expect(before).toContain('audrey');
  expect(before).toContain('vera');

  // Filtering by actor narrows the rows to hers.
  await page.locator('form.filters input[name="actor"]').fill('audrey');
  await page.locator('form.filters').getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL((url) => url.pathname === '/audit' && url.searchParams.get('actor') === 'audrey');
  await expect.poll(async () => [...new Set(await actors(page))]).toEqual(['audrey']);
  await expect(ownSignIn.first()).toBeVisible();
  await expect(page.locator('form.filters input[name="actor"]')).toHaveValue('audrey');
  expect(await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href')).toContain('actor=audrey');

  // The exports answer with the filtered trail (same session as the page).
  const csv = await page.request.get(await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href'));
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toContain('auth.sign_in');
  const json = await page.request.get(await page.getByRole('link', { name: 'Export JSON' }).getAttribute('href'));
  expect(json.status()).toBe(200);

  // The tamper check.
  await page.locator('#verify-chain').click();
  const result = page.locator('#chain-result');
  await expect(result).toHaveAttribute('data-intact', 'true');
  await expect(result).toHaveText(/^Intact\./);
  await page.screenshot({ path: `${screenshots}audit.png`, fullPage: true });

  await expectNotAllowed(page, '/admin/tokens');
});

test('ada (admin) creates a read token (secret shown once), revokes it, and finds both in the audit trail', async ({ page }) => {
  await signIn(page, 'ada', '/admin/tokens');
  await expectHeader(page, 'ada');
  await expect(navLink(page, 'Audit')).toBeVisible();
  await expect(navLink(page, 'API tokens')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'API tokens', level: 1 })).toBeVisible();

  const name = `e2e-ci-${Date.now()}`;
  await page.locator('#token-name').fill(name);
  const read = page.locator('input[name="scopes[0]"]');
  await expect(read).toHaveAttribute('value', 'read');
  await read.check();
  await page.locator('#token-days').fill('30');
  await page.locator('#create-token').click();

  const secret = page.locator('#new-token-secret');
  await expect(secret).toHaveText(/^sbx_\S+$/);
  const secretText = (await secret.textContent()).trim();
  const row = page.locator('tr[data-token]').filter({ hasText: name });
  await expect(row).toHaveCount(1);
  await expect(row.locator('td').nth(1)).toHaveText('read');
  await expect(row.locator('.token-status')).toHaveText('active');
  const id = await row.getAttribute('data-token');
  expect(id).toBeTruthy();
  expect(secretText).not.toBe(id);
  await page.screenshot({ path: `${screenshots}tokens.png`, fullPage: true });

  // Shown once: gone after a reload, from the page and from its HTML.
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(row.locator('.token-status')).toHaveText('active');
  await expect(page.locator('#new-token-secret')).toHaveCount(0);
  expect(await page.content()).not.toContain(secretText);

  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row.locator('.token-status')).toHaveText(/^revoked \d{4}-\d\d-\d\d \d\d:\d\d by ada$/);
  await expect(row.getByRole('button', { name: 'Revoke' })).toHaveCount(0);

  await navLink(page, 'Audit').click();
  await page.waitForURL(`${consoleOrigin()}/audit`);
  await page.locator('form.filters input[name="action"]').fill('token');
  await page.locator('form.filters').getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL((url) => url.pathname === '/audit' && url.searchParams.get('action') === 'token');
  const table = page.locator('table.audit-table');
  for (const action of ['token.create', 'token.revoke']) {
    const event = table.locator(`tr[data-action="${action}"][data-outcome="allowed"]`).filter({ hasText: `token:${id}` });
    await expect(event, action).toHaveCount(1);
    await expect(event).toContainText('ada');
  }
  // The audit trail never holds the secret.
  expect(await page.content()).not.toContain(secretText);
});

test('nobody, whose groups map to no role, gets the no-access page with 403 and no session', async ({ page }) => {
  await page.goto('/');
  const callback = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/callback');
  await submitLogin(page, 'nobody');
  const response = await callback;
  expect(response.status()).toBe(403);
  await expect(page.locator('#no-access')).toBeVisible();
  await expect(page.locator('#no-access')).toContainText('No Body');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('No access');
  await expect(page.locator('header.topbar .user-name')).toHaveCount(0);
  await page.screenshot({ path: `${screenshots}no-access.png`, fullPage: true });

  // No session was created: the console sends her back through sign-in (the provider remembers her) and
  // refuses again.
  const again = await page.goto('/');
  expect(again.status()).toBe(403);
  await expect(page.locator('#no-access')).toBeVisible();
});

test('the CSP watcher sees a violation (the policy blocks an injected inline script)', async ({ browser }) => {
  // A page of its own: the shared fixture would (rightly) fail this test for the violation it provokes.
  const context = await browser.newContext({ baseURL: consoleOrigin() });
  const page = await context.newPage();
  const seen = watchPage(page);
  await signIn(page, 'vera');
  expect(seen.violations).toEqual([]);
  await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.__injected = true;';
    document.head.appendChild(script);
  });
  await expect.poll(() => seen.violations.length).toBeGreaterThan(0);
  expect(seen.violations[0]).toMatch(/Content Security Policy/);
  expect(await page.evaluate(() => window.__injected)).toBeUndefined();
  await context.close();
});
