// axe-core on every page of the console, hydrated, as the people who use each see it: no serious or critical
// violation of WCAG 2.1 A/AA. The counts per page (all impacts) are printed and attached to the report.
import AxeBuilder from '@axe-core/playwright';
import { test, expect, signIn, signOut } from './auth.mjs';

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/// Runs axe on the page as it stands; returns the serious and critical violations, with where they are.
async function audit(page, testInfo, name, { hydrated = true } = {}) {
  if (hydrated) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const result = await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const counts = {};
  for (const v of result.violations) counts[v.impact] = (counts[v.impact] || 0) + v.nodes.length;
  console.log(`axe ${name}: ${result.passes.length} rules passed, violations ${JSON.stringify(counts)}`);
  await testInfo.attach(`axe-${name.replace(/\W+/g, '-')}.json`, {
    body: JSON.stringify(result.violations, null, 2),
    contentType: 'application/json',
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${name}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
}

test('every page an admin opens has no serious accessibility violation', async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  await signIn(page, 'ada', '/');
  const pages = [
    ['overview', '/'],
    ['environment', '/env/production'],
    ['service health', '/env/production/service/api'],
    ['backups', '/env/production/backups'],
    ['releases', '/releases'],
    ['deployments', '/deployments'],
    ['audit trail', '/audit'],
    ['API tokens', '/admin/tokens'],
    ['not found', '/env/nowhere'],
  ];
  const serious = [];
  for (const [name, path] of pages) {
    await page.goto(path);
    serious.push(...(await audit(page, testInfo, name)));
  }
  // A deploy plan and a deployment's page: a build registered and requested for production the way CI does it
  // (it waits for an approval, so nothing changes in AWS; it is cancelled afterwards).
  const created = await page.request.post('/api/tokens/create', {
    form: { name: 'a11y-ci', 'scopes[0]': 'releases:write', 'scopes[1]': 'deployments:request', valid_days: '1' },
  });
  expect(created.status()).toBe(200);
  const { secret } = await created.json();
  const headers = { authorization: `Bearer ${secret}` };
  const version = `8.0.${Date.now() % 100000}`;
  const registered = await page.request.post('/api/v1/releases', {
    headers, data: { service: 'worker', version, image: `accunode-worker:${version}` },
  });
  expect(registered.status()).toBe(201);
  const release = await registered.json();
  await page.goto(`/deploy?release=${release.id}`);
  // A choice made before hydration is never seen by the page (the plan then never loads): wait for it.
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('[data-testid="environment"]').selectOption('production');
  await expect(page.locator('[data-testid="plan"]')).toBeVisible();
  serious.push(...(await audit(page, testInfo, 'deploy plan')));
  const requested = await page.request.post('/api/v1/deployments', {
    headers, data: { release: release.id, environment: 'production' },
  });
  expect(requested.status()).toBe(201);
  const { summary } = await requested.json();
  await page.goto(`/deployments/${summary.id}`);
  await expect(page.locator('[data-testid="timeline"]')).toBeVisible();
  serious.push(...(await audit(page, testInfo, 'deployment')));
  const cancelled = await page.request.post('/api/deployments/cancel', { form: { id: summary.id, action: 'cancel' } });
  expect(cancelled.status()).toBe(200);
  await signOut(page);
  serious.push(...(await audit(page, testInfo, 'signed out', { hydrated: false })));
  expect(serious).toEqual([]);
});
