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
// Fault injection, so tests can prove the console *rejects* bad ID tokens from a real provider
// (a provider that only ever issues good tokens cannot show that a check is missing):
//   POST /signalbox-idp/fault {"id_token": MODE} sets the mode, GET returns {"id_token": MODE}.
//   Until reset to "none", every token endpoint response that carries an id_token gets exactly one
//   defect: wrong-audience (aud "someone-else"), wrong-issuer (iss "http://127.0.0.1:1/evil"),
//   expired (iat and exp 2 hours earlier), wrong-nonce — each re-signed with the real key and kid,
//   so the signature is valid and only that one claim is wrong — or tampered (groups set to
//   ["signalbox-admins"], or [] for a user who has exactly that, without re-signing: the signature
//   no longer matches) or unsigned (alg none, empty signature). Unknown modes get 400 naming the
//   allowed ones. The mode is per process and in memory only: this is a test harness on 127.0.0.1,
//   never an IdP to deploy. end2end/idp/check-faults.mjs checks every mode.
//
// Env:
//   IDP_PORT (4444).
//   IDP_CONSOLE_URLS: comma-separated console base URLs (e.g. http://127.0.0.1:3910, a test
//     server on its own port); each gets <base>/auth/callback as redirect URI and
//     <base>/auth/signed-out and <base>/ as post-logout URIs, so a test picks a free port without
//     spelling out every URI. http://127.0.0.1:3000 (the demo's console) is always registered.
//   IDP_EXTRA_REDIRECTS / IDP_EXTRA_POST_LOGOUT_REDIRECTS: more exact URIs, comma-separated.
//   IDP_JWKS_FILE: signing key, kept so tokens and cached JWKS survive a restart (default
//     end2end/.run/idp-jwks.json). Created atomically, so IdPs started together share one key.
//   IDP_EXIT_ON_STDIN_CLOSE=1: exit when stdin closes. Tests spawn the IdP with a piped stdin, so it
//     dies with the test process even when that is killed without cleaning up.
// Stdout gets exactly one line, `listening <issuer>`, once the port is open (tests wait for it);
// everything else goes to stderr.

import { createServer } from 'node:http';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
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
  vera: { name: 'Vera Viewer', role: 'viewer', groups: ['signalbox-viewers'] },
  rita: { name: 'Rita Release', role: 'release manager', groups: ['signalbox-approvers'] },
  eddie: { name: 'Eddie Engineer', role: 'engineer', groups: ['signalbox-deployers'] },
  audrey: { name: 'Audrey Auditor', role: 'auditor', groups: ['signalbox-auditors'] },
  ada: { name: 'Ada Admin', role: 'admin', groups: ['signalbox-admins'] },
  nobody: { name: 'No Body', role: 'no role', groups: [] },
};
const PASSWORD = 'demo';

function loadJwks() {
  const file = process.env.IDP_JWKS_FILE || join(HERE, '..', '.run', 'idp-jwks.json');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `demo-${randomUUID().slice(0, 8)}`, use: 'sig', alg: 'RS256' };
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ keys: [jwk] }), { mode: 0o600 });
    // link() publishes the complete file in one step and fails if another IdP started at the same
    // moment got there first; then we use its key, so no one reads a half-written file or a key
    // that is not the one on disk.
    try {
      linkSync(tmp, file);
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

// Console base URLs: the demo's, plus any the tests run on.
const CONSOLES = [...new Set(['http://127.0.0.1:3000', ...list(process.env.IDP_CONSOLE_URLS)].map((b) => b.replace(/\/+$/, '')))];

const configuration = {
  clients: [{
    client_id: 'signalbox',
    client_secret: 'signalbox-demo-secret',
    client_name: 'Signalbox (local demo)',
    redirect_uris: [...CONSOLES.map((b) => `${b}/auth/callback`), ...list(process.env.IDP_EXTRA_REDIRECTS)],
    post_logout_redirect_uris: [
      ...CONSOLES.flatMap((b) => [`${b}/auth/signed-out`, `${b}/`]),
      ...list(process.env.IDP_EXTRA_POST_LOGOUT_REDIRECTS),
    ],
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

// ID token faults (see the header). Each function gets the decoded header and claims and returns
// the token to send instead.
const b64json = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function resign(header, claims) {
  const jwk = configuration.jwks.keys.find((k) => k.kid === header.kid);
  const input = `${b64json(header)}.${b64json(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), createPrivateKey({ key: jwk, format: 'jwk' })).toString('base64url')}`;
}
const FAULTS = {
  none: null,
  'wrong-audience': (h, c) => resign(h, { ...c, aud: 'someone-else' }),
  'wrong-issuer': (h, c) => resign(h, { ...c, iss: 'http://127.0.0.1:1/evil' }),
  expired: (h, c) => resign(h, { ...c, iat: c.iat - 7200, exp: c.exp - 7200 }),
  'wrong-nonce': (h, c) => resign(h, { ...c, nonce: `not-${c.nonce}` }),
  tampered: (h, c, token) => {
    const groups = c.groups?.join() === 'signalbox-admins' ? [] : ['signalbox-admins']; // always a change
    return `${b64json(h)}.${b64json({ ...c, groups })}.${token.split('.')[2]}`;
  },
  unsigned: (h, c) => `${b64json({ alg: 'none', typ: h.typ })}.${b64json(c)}.`,
};
let idTokenFault = 'none';

// Runs around oidc-provider's own routes, so the token endpoint has built and signed the real
// token first; we only rewrite the response body.
provider.use(async (ctx, next) => {
  await next();
  const fault = FAULTS[idTokenFault];
  if (!fault || ctx.oidc?.route !== 'token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const token = ctx.body.id_token;
  const [header, claims] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  ctx.body = { ...ctx.body, id_token: fault(header, claims, token) };
  console.error(`fault ${idTokenFault}: id_token for ${claims.sub} altered`);
});

async function faultControl(req, res) {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET') return reply(200, { id_token: idTokenFault });
  if (req.method !== 'POST') return reply(405, { error: 'use GET or POST' });
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    return reply(400, { error: 'body must be JSON like {"id_token": "none"}' });
  }
  const mode = body?.id_token;
  if (!Object.hasOwn(FAULTS, mode)) {
    return reply(400, { error: `unknown id_token fault ${JSON.stringify(mode)}; allowed: ${Object.keys(FAULTS).join(', ')}` });
  }
  idTokenFault = mode;
  console.error(`fault mode: id_token ${mode}`);
  return reply(200, { id_token: idTokenFault });
}

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

async function readBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('body too large');
  }
  return body;
}
const readForm = async (req) => Object.fromEntries(new URLSearchParams(await readBody(req)));

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
  if (path === '/signalbox-idp/fault') return faultControl(req, res);
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
  console.error(`oidc-provider on ${ISSUER} (discovery ${ISSUER}/.well-known/openid-configuration); client signalbox -> ${configuration.clients[0].redirect_uris.join(', ')}`);
  console.log(`listening ${ISSUER}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.env.IDP_EXIT_ON_STDIN_CLOSE === '1') {
  // Exit at once: server.close() would wait for the browser's keep-alive connections.
  process.stdin.on('end', () => process.exit(0)).on('close', () => process.exit(0)).resume();
}
