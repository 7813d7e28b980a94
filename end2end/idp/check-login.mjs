// End-to-end check of the demo IdP, the way the console uses it: discovery -> authorize with PKCE
// (S256), state and nonce -> login form (login/password) -> code at the redirect URI -> token
// exchange with client_secret_basic -> ID token carrying `groups`. Also checks that PKCE is
// enforced and a wrong password is refused. Exits non-zero on failure.
//
//   node end2end/idp/check-login.mjs [user] [password]     (IDP_PORT, default 4444)

import { createHash, randomBytes } from 'node:crypto';

const ISSUER = `http://127.0.0.1:${process.env.IDP_PORT || 4444}`;
const REDIRECT = 'http://127.0.0.1:3000/auth/callback';
const user = process.argv[2] || 'rita';
const password = process.argv[3] || 'demo';
const b64url = (b) => Buffer.from(b).toString('base64url');
let failures = 0;
const check = (cond, what) => { console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`); if (!cond) failures++; };

// A tiny cookie jar + manual redirects: we must stop at the client's redirect URI (nothing listens on :3000).
const jar = new Map();
async function get(url, init = {}) {
  const headers = { ...(init.headers || {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}
async function follow(url, init) {
  let res = await get(url, init);
  for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
    const loc = new URL(res.headers.get('location'), url).href;
    if (loc.startsWith('http://127.0.0.1:3000/')) return { res, location: loc }; // the console's side: stop
    url = loc;
    res = await get(url);
  }
  return { res, location: url };
}

const disc = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
check(disc.issuer === ISSUER, `discovery issuer ${disc.issuer}`);
check(disc.code_challenge_methods_supported?.join() === 'S256', `PKCE methods ${disc.code_challenge_methods_supported}`);
check(['openid', 'profile', 'email', 'groups'].every((s) => disc.scopes_supported.includes(s)), 'scopes openid profile email groups');
check(Boolean(disc.end_session_endpoint), `end_session_endpoint ${disc.end_session_endpoint}`);

function authorizeUrl(extra = {}) {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const u = new URL(disc.authorization_endpoint);
  Object.entries({
    client_id: 'signalbox', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile email groups',
    state, nonce, code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256', ...extra,
  }).forEach(([k, v]) => v !== undefined && u.searchParams.set(k, v));
  return { url: u.href, verifier, state, nonce };
}

// PKCE is required: an authorize request without a challenge is refused.
{
  const { url } = authorizeUrl({ code_challenge: undefined, code_challenge_method: undefined });
  const { location } = await follow(url);
  check(new URL(location).searchParams.get('error') === 'invalid_request', 'authorize without PKCE is refused (invalid_request)');
}

const a = authorizeUrl();
let { res, location } = await follow(a.url);
const page = await res.text();
check(res.status === 200 && page.includes('name="login"') && page.includes('name="password"'), 'login form with login/password fields');
const action = new URL(page.match(/action="([^"]+)"/)[1], location).href;

const bad = await get(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'login=rita&password=wrong' });
check((await bad.text()).includes('wrong password'), 'wrong password is refused');

({ res, location } = await follow(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ login: user, password }).toString() }));
const cb = new URL(location);
check(location.startsWith(REDIRECT) && cb.searchParams.get('code'), `redirected to the callback with a code (no consent screen)`);
check(cb.searchParams.get('state') === a.state, 'state round-trips');
check(cb.searchParams.get('iss') === ISSUER, `iss callback parameter ${cb.searchParams.get('iss')}`);

const tok = await fetch(disc.token_endpoint, {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('signalbox:signalbox-demo-secret').toString('base64')}` },
  body: new URLSearchParams({ grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: a.verifier }),
});
const tokens = await tok.json();
check(tok.status === 200 && tokens.id_token, `token endpoint ${tok.status}${tokens.error ? ' ' + tokens.error + ': ' + tokens.error_description : ''}`);
if (tokens.id_token) {
  const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
  check(claims.iss === ISSUER && claims.aud === 'signalbox' && claims.nonce === a.nonce, 'ID token iss/aud/nonce');
  check(Array.isArray(claims.groups), `ID token groups for ${user}: ${JSON.stringify(claims.groups)}`);
  console.log(`     claims: ${JSON.stringify({ sub: claims.sub, name: claims.name, email: claims.email, groups: claims.groups })}`);
  const ui = await (await fetch(disc.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json();
  check(ui.sub === user && Array.isArray(ui.groups), 'userinfo answers with groups');
  // RP-initiated logout: the end-session page accepts our id_token_hint and post-logout URI.
  const es = new URL(disc.end_session_endpoint);
  es.searchParams.set('id_token_hint', tokens.id_token);
  es.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:3000/');
  es.searchParams.set('state', 'bye');
  const lo = await get(es.href);
  const loPage = await lo.text();
  check(lo.status === 200 && loPage.includes('logout'), 'end_session shows the sign-out confirmation');
  const xsrf = loPage.match(/name="xsrf" value="([^"]+)"/)?.[1];
  const formAction = loPage.match(/action="([^"]+)"/)?.[1];
  if (xsrf && formAction) {
    const done = await follow(new URL(formAction, ISSUER).href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf, logout: 'yes' }).toString() });
    check(done.location.startsWith('http://127.0.0.1:3000/'), `logout redirects to ${done.location}`);
  }
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
