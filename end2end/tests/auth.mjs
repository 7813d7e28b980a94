// Sign-in and sign-out through the real local OpenID provider (end2end/idp/server.mjs), and a `test` whose every
// page fails the test on a Content-Security-Policy violation or an uncaught script error — on the console's pages
// and on the provider's alike, since one tab goes through both.
import { test as base, expect } from '@playwright/test';

export { expect };

/// The demo users (end2end/idp/server.mjs); everyone's password is "demo".
export const PASSWORD = 'demo';
export const USERS = {
  vera: { name: 'Vera Viewer', roles: 'viewer' },
  eddie: { name: 'Eddie Engineer', roles: 'deployer' },
  rita: { name: 'Rita Release', roles: 'approver' },
  audrey: { name: 'Audrey Auditor', roles: 'auditor' },
  ada: { name: 'Ada Admin', roles: 'admin' },
  nobody: { name: 'No Body', roles: '' },
};

/// The console's origin, as the config's baseURL spells it.
export function consoleOrigin() {
  return new URL(test.info().project.use.baseURL).origin;
}

const CSP = /Content Security Policy|Refused to/i;

/// Collects what would mean the page is broken: CSP violations (Chromium logs them to the console as
/// "Refused to … because it violates the following Content Security Policy directive …") and uncaught errors
/// (a wasm panic during hydration ends up here too, through console_error_panic_hook and the thrown error).
export function watchPage(page) {
  const seen = { violations: [], errors: [], log: [] };
  page.on('console', (message) => {
    const line = `[${message.type()}] ${message.text()} (${page.url()})`;
    seen.log.push(line);
    if (CSP.test(message.text())) seen.violations.push(line);
  });
  page.on('pageerror', (error) => seen.errors.push(`${error.name}: ${error.message} (${page.url()})`));
  return seen;
}

export const test = base.extend({
  // Every test's page is watched; the test fails afterwards if anything was seen.
  page: async ({ page }, use, testInfo) => {
    const seen = watchPage(page);
    await use(page);
    if (seen.log.length) await testInfo.attach('browser-console.txt', { body: seen.log.join('\n'), contentType: 'text/plain' });
    expect(seen.violations, 'Content-Security-Policy violations in the browser console').toEqual([]);
    expect(seen.errors, 'uncaught errors in the page').toEqual([]);
  },
});

/// On the provider's login form: fill it in and submit. Returns once the submit was sent.
export async function submitLogin(page, user, password = PASSWORD) {
  expect(new URL(page.url()).origin, 'the login form is the provider\'s, not the console\'s').not.toBe(consoleOrigin());
  await expect(page.locator('#login')).toBeVisible();
  await expect(page.locator('#password')).toBeVisible();
  await page.locator('#login').fill(user);
  await page.locator('#password').fill(password);
  await page.locator('#submit').click();
}

/// Opens `path` in the console as a visitor who is not signed in, which must lead to the provider's login form;
/// signs in as `user` and waits until the browser is back on `path` in the console, hydrated, with `user` in
/// the header.
export async function signIn(page, user, path = '/') {
  await page.goto(path);
  await submitLogin(page, user);
  const origin = consoleOrigin();
  const wanted = new URL(path, origin);
  await page.waitForURL((url) => url.origin === origin && url.pathname === wanted.pathname && url.search === wanted.search);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('header.topbar .user-name')).toHaveAttribute('data-user', user);
}

/// Signs out with the header's button, confirms at the provider ("Yes, sign me out") and waits for the
/// console's signed-out page.
export async function signOut(page) {
  await page.locator('header.topbar #sign-out').click();
  const confirm = page.getByRole('button', { name: 'Yes, sign me out' });
  await expect(confirm).toBeVisible();
  expect(new URL(page.url()).origin, 'the sign-out confirmation is the provider\'s').not.toBe(consoleOrigin());
  await confirm.click();
  await page.waitForURL((url) => url.origin === consoleOrigin() && url.pathname === '/auth/signed-out');
  await expect(page.locator('#signed-out')).toBeVisible();
}
