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
  const kpis = blue.locator('table.kpis').first();
  await expect(kpis).toContainText('p95');
  await expect(kpis).toContainText('500 ms');
  await expect(blue.locator('svg.sparkline')).toHaveCount(2);
  await expect(blue.locator('svg.sparkline title').first()).toHaveText(/blue: 5xx rate per minute/);
  await expect(blue.locator('svg.sparkline line.threshold')).toHaveCount(2);
  const green = panel.locator('article[data-colour="green"]');
  await expect(green).toHaveAttribute('data-verdict', 'no data');
  await expect(green.locator('table.kpis').first()).toContainText('no data');
  await expect(panel.locator('.freshness').first()).toContainText(/as of \d+ s ago/);
  // Targets per availability zone (zones come from the tasks), the tasks, and the colour's alarms.
  await expect(blue.locator('table.zones tbody tr')).toHaveCount(3);
  await expect(blue.locator('table.zones tbody tr').first()).toHaveAttribute('data-zone', /^us-east-1[a-c]$/);
  await expect(blue.locator('[data-testid="task-states"]')).toContainText('4 RUNNING');
  await expect(blue.locator('table.tasks tbody tr[data-task-status="RUNNING"]')).toHaveCount(4);
  await expect(blue.locator('[data-testid="colour-alarms"] li')).toHaveCount(5);
  await expect(green.locator('[data-testid="task-states"]')).toContainText('no tasks');
  // ECS deployments and the environment-wide alarms below the colours.
  await expect(page.locator('[data-testid="deployments"] tr[data-colour="blue"]').first()).toContainText('PRIMARY');
  await expect(page.locator('[data-testid="alarms"]')).toContainText('accunode-production-db-connection-failures');
  await page.screenshot({ path: `${screenshots}health.png`, fullPage: true });
});

test('the SLO view shows availability, budget, burn and charts with the objective drawn', async ({ page }) => {
  await signIn(page, 'vera', '/env/production/service/api#slo');
  const slo = page.locator('section[data-testid="slo"]');
  await expect(slo).toBeVisible();
  // The harness wrote a month with two incidents on production api: ~99.967 %, about a third of the budget spent.
  await expect(slo.locator('[data-testid="slo-availability"] strong')).toHaveText(/^99\.96\d %$/);
  await expect(slo.locator('[data-testid="slo-budget"] strong')).toHaveText(/^6\d\.\d %$/);
  await expect(slo.locator('[data-testid="slo-burn"] strong')).toHaveText(/^\d+\.\d\d×$/);
  await expect(slo.locator('[data-testid="burn-alerts"] tbody tr')).toHaveCount(3);
  const charts = slo.locator('svg.timeseries');
  await expect(charts).toHaveCount(2);
  await expect(charts.first().locator('title').first()).toHaveText('Availability per day');
  await expect(charts.first().locator('desc')).toContainText('threshold 99.90 %');
  await expect(charts.first().locator('line.threshold')).toHaveCount(1);
  await expect(slo.locator('.freshness')).toContainText(/as of \d+ s ago/);
  await slo.scrollIntoViewIfNeeded();
  await slo.screenshot({ path: `${screenshots}slo.png` });
});

test('the Overview shows a health badge per colour', async ({ page }) => {
  await signIn(page, 'vera');
  const api = page.locator('section[data-environment="production"] tr[data-service="api"]');
  await expect(api.locator('td[data-colour="blue"] [data-testid="health-badge"]')).toHaveText('healthy');
  await expect(api.locator('td[data-colour="green"] [data-testid="health-badge"]')).toHaveText('no data');
});
