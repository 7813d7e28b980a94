// The Backups page against the emulator's seeded production: the verdict first, every policy check with its
// reason, snapshots with their DR copies, Redis, drills; a deployer records a drill and takes a snapshot through
// the confirmed actions, and the page follows. A viewer sees no action.
import { test, expect, signIn } from './auth.mjs';

const screenshots = new URL('../screenshots/', import.meta.url).pathname;

function today() {
  return new Date().toISOString().slice(0, 10);
}

test('a deployer records a drill and takes a snapshot; the verdict and the actions follow', async ({ page }) => {
  await signIn(page, 'eddie', '/env/production/backups');
  const verdict = page.locator('[data-testid="verdict"]');
  await expect(verdict).toBeVisible();
  const checks = page.locator('[data-testid="checks"] tr[data-check]');
  await expect(checks.first()).toBeVisible();
  expect(await checks.count()).toBeGreaterThanOrEqual(12);
  await expect(page.locator('tr[data-check="rds.retention"]')).toHaveAttribute('data-status', 'green');
  await expect(page.locator('tr[data-check="rds.retention"]')).toContainText('retention 7 days, policy 7 days');
  await expect(page.locator('tr[data-snapshot="accunode-production-db-pre-deploy-v1-2-4"]')).toContainText('copied');

  // Record a drill, unless an earlier run on this stack did.
  if ((await verdict.getAttribute('data-recoverable')) !== 'recoverable') {
    await expect(page.locator('tr[data-check="drills.recent"]')).toHaveAttribute('data-status', 'red');
    await page.locator('.drill-form summary').click();
    await page.fill('#drill-date', today());
    await page.fill('#drill-snapshot', 'accunode-production-db-pre-deploy-v1-2-4');
    await page.fill('#drill-minutes', '38');
    await page.check('#drill-passed');
    await page.fill('#drill-notes', 'restored to a scratch instance; row counts match');
    await page.click('#record-drill');
    await expect(page.locator('[data-testid="action-outcome"]')).toContainText('Restore drill recorded');
  }
  await expect(verdict).toHaveAttribute('data-recoverable', 'recoverable');
  await expect(page.locator('tr[data-check="drills.recent"]')).toHaveAttribute('data-status', 'green');

  // Take an RDS snapshot: the first click asks, Confirm acts.
  const take = page.locator('[data-testid="take-rds-snapshot"]');
  await take.getByRole('button', { name: 'Take RDS snapshot now' }).click();
  await expect(take).toContainText('Start a manual snapshot of accunode-production-db now?');
  await take.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.locator('[data-testid="action-outcome"]')).toContainText('RDS snapshot started: accunode-production-db-manual-');
  const action = page.locator('[data-testid="actions"] tr[data-action="backups.rds_snapshot"]').first();
  await expect(action).toBeVisible();
  await expect(action).toHaveAttribute('data-state', /in progress|done/);
  // The new snapshot has no copy in the DR region yet, so the DR check turns red and the copy button appears.
  await expect(page.locator('tr[data-check="dr.copies"]')).toHaveAttribute('data-status', 'red');
  // While it is being made the collector re-reads every 5 s, so the page shows it finish without a reload.
  await expect(action).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  await expect(page.locator('[data-testid="copy-to-dr"]').first()).toBeVisible();
  await page.screenshot({ path: `${screenshots}backups.png`, fullPage: true });
});

test('a viewer sees the backups but no action', async ({ page }) => {
  await signIn(page, 'vera', '/env/production/backups');
  await expect(page.locator('[data-testid="verdict"]')).toBeVisible();
  await expect(page.locator('[data-testid="take-rds-snapshot"]')).toHaveCount(0);
  await expect(page.locator('.drill-form')).toHaveCount(0);
});
