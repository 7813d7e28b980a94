// The Overview against the seeded reference stack: live colours and task counts read from the emulator through
// the console's AWS adapters, rendered on the server and hydrated in the browser. The console sits behind single
// sign-on: each test signs in as vera (viewer) through the local provider first.
import { test, expect, signIn } from './auth.mjs';
import { mkdirSync } from 'node:fs';

const screenshots = new URL('../screenshots/', import.meta.url).pathname;
mkdirSync(screenshots, { recursive: true });

function service(page, environment, name) {
  return page.locator(`section[data-environment="${environment}"] tr[data-service="${name}"]`);
}

test('the Overview shows every environment with its live colours and task counts', async ({ page }) => {
  await signIn(page, 'vera');
  // Loaded again, signed in: the Overview itself answers 200 (the sign-in ended in a redirect to it).
  const response = await page.goto('/');
  expect(response.status()).toBe(200);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('header.topbar .user-name')).toHaveText('Vera Viewer');
  await expect(page).toHaveTitle(/Overview · Signalbox/);

  // The seeder makes blue live in production and green live in staging.
  const prodApi = service(page, 'production', 'api');
  await expect(prodApi.getByTestId('live-colour')).toHaveText('blue live');
  await expect(prodApi.locator('td[data-colour="blue"] .counts')).toHaveText('4/4');
  await expect(prodApi.locator('td[data-colour="green"] .counts')).toHaveText('0/0');
  await expect(prodApi.locator('td[data-colour="blue"] code.image')).toContainText('accunode-api:v1.2.3');
  await expect(service(page, 'production', 'worker').getByTestId('live-colour')).toHaveText('blue live');

  const stagingApi = service(page, 'staging', 'api');
  await expect(stagingApi.getByTestId('live-colour')).toHaveText('green live');
  await expect(stagingApi.locator('td[data-colour="green"] .counts')).toHaveText('2/2');
  await expect(page.locator('section[data-environment="staging"]')).toContainText('us-east-2');

  await expect(page.getByTestId('environment-error')).toHaveCount(0);
  await page.screenshot({ path: `${screenshots}overview.png`, fullPage: true });
});

test('Refresh re-reads through a server function once hydrated', async ({ page }) => {
  await signIn(page, 'vera');
  const call = page.waitForResponse((r) => r.url().includes('/api/overview') && r.status() === 200);
  await page.getByRole('button', { name: 'Refresh' }).click();
  const body = await (await call).json();
  expect(body.environments.map((e) => e.name)).toEqual(['production', 'staging']);
  await expect(service(page, 'production', 'api').getByTestId('live-colour')).toHaveText('blue live');
});

test('environments and services have their own pages; unknown ones are 404 pages', async ({ page }) => {
  await signIn(page, 'vera');
  const ok = await page.goto('/env/staging');
  expect(ok.status()).toBe(200);
  await expect(page.locator('section[data-environment="staging"]')).toBeVisible();
  await expect(page.locator('section[data-environment="production"]')).toHaveCount(0);

  const missing = await page.goto('/env/no-such-environment');
  expect(missing.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();

  const worker = await page.goto('/env/production/service/worker');
  expect(worker.status()).toBe(200);
  await expect(page.locator('tr[data-service="worker"]')).toBeVisible();
  await expect(page.locator('tr[data-service="api"]')).toHaveCount(0);
  const noService = await page.goto('/env/production/service/no-such-service');
  expect(noService.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();

  const nowhere = await page.goto('/no/such/page');
  expect(nowhere.status()).toBe(404);
});

test('the Overview updates without a reload: the live stream makes it refetch', async ({ page }) => {
  await signIn(page, 'vera');
  // No click and no navigation: the next read of the overview comes from a server-sent update.
  const refetched = page.waitForResponse((r) => r.url().includes('/api/overview') && r.status() === 200, { timeout: 15_000 });
  await refetched;
  await expect(page.locator('section[data-environment="production"] .freshness')).toContainText(/as of \d+ s ago/);
  await expect(page.locator('section[data-environment="production"] .badge.stale')).toHaveCount(0);
});

test("each page's head preloads its own wasm chunks, once each, on every visit", async ({ page }) => {
  await signIn(page, 'vera');
  const chunksOf = {};
  // Each page twice: the preloads must not depend on which request the server handled before.
  for (const path of ['/', '/env/production', '/env/production/service/api', '/releases', '/deployments', '/', '/deployments']) {
    const response = await page.request.get(path);
    expect(response.status()).toBe(200);
    const html = await response.text();
    const head = html.slice(0, html.indexOf('</head>'));
    const hrefs = [...head.matchAll(/<link[^>]*rel="preload"[^>]*>/g)]
      .map(([link]) => link.match(/href="([^"]+)"/)[1])
      .filter((href) => /\/pkg\/(chunk_|split_)/.test(href));
    expect(hrefs.length, `${path} preloads its route's chunks`).toBeGreaterThan(0);
    expect(new Set(hrefs).size, `${path} preloads each chunk once`).toBe(hrefs.length);
    const loader = [...head.matchAll(/<link[^>]*>/g)].filter(([link]) => link.includes('rel="modulepreload"') && link.includes('/pkg/__wasm_split'));
    expect(loader.length, `${path} preloads the chunk loader once`).toBe(1);
    if (chunksOf[path]) expect(hrefs, `${path} preloads the same chunks each time`).toEqual(chunksOf[path]);
    chunksOf[path] = hrefs;
    const served = await page.request.get(hrefs[hrefs.length - 1]);
    expect(served.status()).toBe(200);
    expect(served.headers()['content-type']).toContain('application/wasm');
  }
  // Different pages need different code.
  expect(chunksOf['/']).not.toEqual(chunksOf['/env/production/service/api']);
});
