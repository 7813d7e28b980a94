// The service page's health panel against the emulator's traffic (the stack backfills a quarter of an hour of
// metrics): both colours side by side, the gate's verdict, KPIs against the SLA, and sparklines with thresholds.
import { test, expect, signIn } from './auth.mjs';

const screenshots = new URL('../screenshots/', import.meta.url).pathname;

test('a service page shows each colour\'s health: verdict, KPIs against the SLA, charts', async ({ page }) => {
  await signIn(page, 'vera', '/env/production/service/api');
  const panel = page.locator('section.health[data-health-service="api"]');
  await expect(panel).toBeVisible();
  // Production serves blue; green runs no task, so it has no data (never zeros).
  const blue = panel.locator('article[data-colour="blue"]');
  await expect(blue).toHaveAttribute('data-verdict', 'healthy');
  await expect(blue.locator('table.kpis')).toContainText('p95');
  await expect(blue.locator('table.kpis')).toContainText('500 ms');
  await expect(blue.locator('svg.sparkline')).toHaveCount(2);
  await expect(blue.locator('svg.sparkline title').first()).toHaveText(/blue: 5xx rate per minute/);
  await expect(blue.locator('svg.sparkline line.threshold')).toHaveCount(2);
  const green = panel.locator('article[data-colour="green"]');
  await expect(green).toHaveAttribute('data-verdict', 'no data');
  await expect(green.locator('table.kpis')).toContainText('no data');
  await expect(panel.locator('.freshness')).toContainText(/as of \d+ s ago/);
  await page.screenshot({ path: `${screenshots}health.png`, fullPage: true });
});

test('the Overview shows a health badge per colour', async ({ page }) => {
  await signIn(page, 'vera');
  const api = page.locator('section[data-environment="production"] tr[data-service="api"]');
  await expect(api.locator('td[data-colour="blue"] [data-testid="health-badge"]')).toHaveText('healthy');
  await expect(api.locator('td[data-colour="green"] [data-testid="health-badge"]')).toHaveText('no data');
});
