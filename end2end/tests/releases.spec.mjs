// A production deploy end to end in the browser: CI registers a build with a token, the engineer reads the
// plan and requests it, the requester's own approval is refused, the release manager approves, and the
// deployment page follows the engine live — snapshot, deploy green, ready, switch, bake, done — without a
// reload. The browser tests' config bakes 20 s and keeps the old colour 5 s (scripts/e2e).
import { test, expect, signIn, signOut } from './auth.mjs';

const screenshots = new URL('../screenshots/', import.meta.url).pathname;

test('request, own approval refused, approval, and the deploy runs to done on the live page', async ({ page }) => {
  test.setTimeout(240_000);

  // CI: a token with releases:write, then the build.
  await signIn(page, 'ada', '/admin/tokens');
  const created = await page.request.post('/api/tokens/create', {
    form: { name: 'e2e-ci', 'scopes[0]': 'releases:write', valid_days: '1' },
  });
  expect(created.status()).toBe(200);
  const { secret } = await created.json();
  const version = `4.0.${Date.now() % 100000}`;
  const registered = await page.request.post('/api/v1/releases', {
    headers: { authorization: `Bearer ${secret}` },
    data: {
      service: 'api',
      version,
      image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/accunode-api:${version}`,
      digest: `sha256:${'a'.repeat(64)}`,
      commit: '4f2a9c1d',
      notes: 'Batch scoring behind a flag',
      ticket_url: 'https://tickets.example/ACC-42',
      environment: { FEATURE_BATCH_SCORING: 'on' },
    },
  });
  expect(registered.status()).toBe(201);
  const release = await registered.json();
  await signOut(page);

  // The engineer finds it on the Releases page and reads the plan before requesting.
  await signIn(page, 'eddie', '/releases');
  const row = page.locator(`tr[data-release="${release.id}"]`);
  await expect(row).toContainText(version);
  await row.getByRole('link', { name: 'Deploy…' }).click();
  await page.waitForURL(`**/deploy?release=${release.id}`);
  await page.locator('[data-testid="environment"]').selectOption('production');
  const plan = page.locator('[data-testid="plan"]');
  await expect(plan.locator('[data-testid="colours"]')).toContainText('goes live with 4 tasks');
  await expect(plan.locator('[data-testid="colours"] strong')).toHaveText('green');
  await expect(plan.locator('tr[data-field="image"] .after')).toContainText(`sha256:${'a'.repeat(64)}`);
  await expect(plan.locator('tr[data-field="environment.FEATURE_BATCH_SCORING"] .after')).toHaveText('on');
  await expect(plan.locator('[data-testid="snapshots"] li')).toHaveCount(2);
  await expect(plan.locator('[data-testid="gates"]')).toContainText('5xx > 5.0 % for 2 min');
  await page.screenshot({ path: `${screenshots}deploy-plan.png`, fullPage: true });
  await page.locator('[data-testid="request"]').click();
  await page.waitForURL(/\/deployments\/dep-/);
  const id = new URL(page.url()).pathname.split('/').pop();
  const state = page.locator('[data-testid="deployment-title"] [data-state]');
  await expect(state).toHaveAttribute('data-state', 'requested');
  await expect(page.locator('[data-testid="approvals"] h2')).toHaveText('Approvals: 0 of 1 valid');

  // The requester may not approve: the page offers no Approve, and a direct call is refused and says why.
  await expect(page.locator('[data-action="approve"]')).toHaveCount(0);
  const own = await page.request.post('/api/deployments/decide', { form: { id, action: 'approve' } });
  expect(own.status()).toBe(403);
  expect(await own.text()).toContain('approve deploys');
  await signOut(page);

  // The release manager approves; the page then follows the engine without a reload.
  await signIn(page, 'rita', `/deployments/${id}`);
  // The evidence in front of her: the diff (below), the live colour's health, the backup verdict, the notes.
  await expect(page.locator('[data-testid="live-health"]')).toContainText('blue (live) health gate:');
  await expect(page.locator('[data-testid="backup-verdict"]')).toHaveAttribute('data-recoverable', /recoverable/);
  await expect(page.locator('[data-testid="evidence"]')).toContainText('Batch scoring behind a flag');
  await page.locator('[data-action="approve"] button', { hasText: 'Approve' }).click();
  await page.locator('[data-action="approve"] [data-testid="confirm"]').click();
  await expect(page.locator('[data-testid="approvals"] li[data-decision="approve"]')).toContainText('Rita Release');
  await expect(state).toHaveAttribute('data-state', /snapshot|deploying|ready|switching|baking/, { timeout: 30_000 });
  await expect(state).toHaveAttribute('data-state', 'baking', { timeout: 120_000 });
  await expect(page.locator('.timeline li[data-kind="switch"]')).toHaveAttribute('data-state', 'done');
  await expect(page.locator('.timeline li[data-kind="switch"] .calls')).toContainText('ELBv2 ModifyListener ok');
  // The bake, watched where the decision is made: green's health with this deployment's switch marked, and the
  // snapshots a restore would start from.
  await expect(page.locator('[data-testid="new-colour-health"] h2')).toContainText('green (new colour) health');
  await expect(page.locator('[data-testid="new-colour-health"] [data-colour="green"]')).toHaveCount(1);
  await expect(page.locator('[data-testid="snapshots"] li[data-state="done"]')).toHaveCount(2);
  await page.screenshot({ path: `${screenshots}deployment-baking.png`, fullPage: true });
  await expect(state).toHaveAttribute('data-state', 'done', { timeout: 90_000 });
  const steps = page.locator('.timeline li.step');
  expect(await steps.count()).toBe(8);
  await expect(page.locator('.timeline li.step:not([data-state="done"])')).toHaveCount(0);
  await page.screenshot({ path: `${screenshots}deployment-done.png`, fullPage: true });

  // The history lists it, and the environment now serves green.
  await page.goto('/deployments?environment=production&state=done');
  await expect(page.locator(`tr[data-deployment="${id}"]`)).toContainText('Done');
  await page.goto('/env/production');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // The health charts mark the switch, with its version in the tooltip.
  await page.goto('/env/production/service/api');
  const marker = page.locator(`line.marker[data-deployment="${id}"]`).first();
  await expect(marker).toBeAttached({ timeout: 30_000 });
  await expect(marker.locator('title')).toContainText(`${version} (${id}): all traffic to green`);
  await page.screenshot({ path: `${screenshots}health-deploy-markers.png`, fullPage: true });
  await signOut(page);

  // The auditor sees the deployment's own audit events on its page, the denied self-approval among them.
  await signIn(page, 'audrey', `/deployments/${id}`);
  const audit = page.locator('[data-testid="deployment-audit"]');
  await expect(audit.locator('li[data-action="deployments.approve"][data-outcome="denied"]')).toHaveCount(1);
  await expect(audit.locator('li[data-action="deployments.approve"][data-outcome="allowed"]')).toHaveCount(1);
  await expect(audit.locator('li[data-action="deployment.switch"]')).toHaveCount(1);
  await audit.screenshot({ path: `${screenshots}deployment-audit.png` });
  await audit.getByRole('link', { name: 'All of them in the audit trail' }).click();
  await page.waitForURL(/\/audit\?target=deployment/);
  await expect(page.locator('tbody tr').first()).toBeVisible();
});
