// Local OpenID Connect provider for Signalbox's demo and browser tests (loopback only).
//
// Why a real provider and not a stub: the console's login is authorization code + PKCE + nonce with
// discovery, JWKS and ID-token validation (openidconnect crate). `oidc-provider` is OpenID Certified,
// so a login that works here exercises the same checks as against a production IdP.
//
// Settings that the console depends on, and why:
//   - issuer is exactly http://127.0.0.1:<port>: the console compares issuers byte for byte.
//   - conformIdTokenClaims: false, so the `groups` claim (roles) is in the ID token, not only at
//     the userinfo endpoint.
//   - PKCE required (S256): the console must send it; a regression shows up as a failed login.
//   - login form posts `login` and `password` (what the browser tests fill in); consent is granted
//     automatically, as for a first-party app, so tests see no consent screen.
//
// Env: IDP_PORT (4444), IDP_EXTRA_REDIRECTS / IDP_EXTRA_POST_LOGOUT_REDIRECTS (comma-separated,
// e.g. for a test server on another port), IDP_JWKS_FILE (signing key, kept so tokens and cached
// JWKS survive a restart; default end2end/.run/idp-jwks.json).

import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';

const HERE = dirname(fileURLToPath(import.meta.url));
const PORT = Number(process.env.IDP_PORT || 4444);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);

// The demo users (documented in end2end/stack/README.md). Everyone's password is "demo".
const USERS = {
  rita: { name: 'Rita Release', role: 'release manager', groups: ['signalbox-approvers'] },
  eddie: { name: 'Eddie Engineer', role: 'engineer', groups: ['signalbox-deployers'] },
  audrey: { name: 'Audrey Auditor', role: 'auditor', groups: ['signalbox-auditors'] },
  ada: { name: 'Ada Admin', role: 'admin', groups: ['signalbox-admins'] },
  nobody: { name: 'No Body', role: 'no role', groups: [] },
};
const PASSWORD = 'demo';

function loadJwks() {
  const file = process.env.IDP_JWKS_FILE || join(HERE, '..', '.run', 'idp-jwks.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `demo-${randomUUID().slice(0, 8)}`, use: 'sig', alg: 'RS256' };
  const jwks = { keys: [jwk] };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const configuration = {
  clients: [{
    client_id: 'signalbox',
    client_secret: 'signalbox-demo-secret',
    client_name: 'Signalbox (local demo)',
    redirect_uris: ['http://127.0.0.1:3000/auth/callback', ...list(process.env.IDP_EXTRA_REDIRECTS)],
    post_logout_redirect_uris: ['http://127.0.0.1:3000/', ...list(process.env.IDP_EXTRA_POST_LOGOUT_REDIRECTS)],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: loadJwks(),
  cookies: { keys: ['signalbox-demo-idp-cookie-key-not-secret'] },
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 accepts
  scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false }, // ours below checks passwords
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = USERS[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: user.name,
          preferred_username: sub,
          email: `${sub}@example.com`,
          email_verified: true,
          groups: user.groups,
        };
      },
    };
  },
  ttl: { Session: 8 * 3600, Grant: 8 * 3600 },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function loginPage(uid, clientId, error) {
  const users = Object.entries(USERS)
    .map(([id, u]) => `<li><code>${id}</code> — ${esc(u.role)}${u.groups.length ? ` (${u.groups.join(', ')})` : ''}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — demo identity provider</title></head>
<body>
<main>
<h1>Sign in to ${esc(clientId)}</h1>
${error ? `<p role="alert" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>Username <input name="login" id="login" required autofocus></label>
  <label>Password <input name="password" id="password" type="password" required></label>
  <button type="submit" id="submit">Sign in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>
<p>Demo users (password <code>demo</code>):</p><ul>${users}</ul>
</main>
</body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'self'; form-action 'self' http://127.0.0.1:*",
  });
  res.end(html);
}

// First-party client: grant what it asked for, without a consent screen.
async function grantAll(details) {
  const { params, session, grantId } = details;
  const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session?.accountId ?? details.result?.login?.accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const missing = details.prompt.details || {};
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(req, res, path) {
  const [, , uid, action] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'interaction mismatch');
  const { prompt, params } = details;

  if (action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'cancelled at the login form' }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'login') {
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const login = (form.login || '').trim();
      if (!USERS[login] || form.password !== PASSWORD) {
        return send(res, 200, loginPage(uid, params.client_id, 'Unknown user or wrong password.'));
      }
      const grant = new provider.Grant({ accountId: login, clientId: params.client_id });
      grant.addOIDCScope(params.scope);
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
    }
    return send(res, 200, loginPage(uid, params.client_id));
  }
  if (prompt.name === 'consent') {
    const grantId = await grantAll(details);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, `unsupported prompt ${esc(prompt.name)}`);
}

const handler = provider.callback();
const server = createServer(async (req, res) => {
  const path = new URL(req.url, ISSUER).pathname;
  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ ok: true, issuer: ISSUER }));
  }
  if (path.startsWith('/interaction/')) {
    try {
      return await interaction(req, res, path);
    } catch (err) {
      console.error('interaction error', err);
      return send(res, 400, `<p>Login session expired or invalid (${esc(err.name || 'error')}). Start again from the application.</p>`);
    }
  }
  return handler(req, res);
});

server.listen(PORT, HOST, () => {
  console.log(`oidc-provider on ${ISSUER} (discovery ${ISSUER}/.well-known/openid-configuration); client signalbox -> ${configuration.clients[0].redirect_uris.join(', ')}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
