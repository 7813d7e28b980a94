// Checks the IdP's ID-token fault injection (POST /signalbox-idp/fault, see server.mjs). For each
// mode: a full login (PKCE, state, nonce) and token exchange, then the checks the console makes on
// an ID token (JWKS signature, aud, iss, exp, nonce). Each mode must fail exactly one of them, the
// intended one, so a console test that sees a rejection knows why. Resets the mode to "none" at the
// end. The mode is global to the IdP: do not run this against an IdP someone is signing in with.
//
//   node end2end/idp/check-faults.mjs      (IDP_PORT, default 4444)

import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';

const ISSUER = `http://127.0.0.1:${process.env.IDP_PORT || 4444}`;
const FAULT_URL = `${ISSUER}/signalbox-idp/fault`;
const REDIRECT = 'http://127.0.0.1:3000/auth/callback';
const CLIENT_AUTH = `Basic ${Buffer.from('signalbox:signalbox-demo-secret').toString('base64')}`;
const b64url = (b) => Buffer.from(b).toString('base64url');
const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
let failures = 0;
const check = (cond, what) => { console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`); if (!cond) failures++; };

const disc = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
const jwks = await (await fetch(disc.jwks_uri)).json();

async function setFault(mode) {
  const res = await fetch(FAULT_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id_token: mode }) });
  return { status: res.status, body: await res.json() };
}

// Login as `user` with a fresh cookie jar, stopping at the client's redirect URI (nothing listens
// there), then exchange the code. Returns the id_token and the nonce we sent.
async function login(user) {
  const jar = new Map();
  const get = async (url, init = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, headers: { ...init.headers, cookie }, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return res;
  };
  const follow = async (url, init) => {
    let res = await get(url, init);
    while (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location'), url).href;
      if (url.startsWith(REDIRECT)) break;
      res = await get(url);
    }
    return { res, url };
  };

  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const authorize = new URL(disc.authorization_endpoint);
  authorize.search = new URLSearchParams({
    client_id: 'signalbox', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile email groups', state, nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
  });
  const form = await follow(authorize.href);
  const action = new URL((await form.res.text()).match(/action="([^"]+)"/)[1], form.url).href;
  const { url } = await follow(action, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ login: user, password: 'demo' }).toString(),
  });
  const cb = new URL(url);
  if (cb.searchParams.get('state') !== state || !cb.searchParams.get('code')) throw new Error(`login as ${user} did not reach the callback: ${url}`);
  const tok = await fetch(disc.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: CLIENT_AUTH },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: verifier }),
  });
  const tokens = await tok.json();
  if (tok.status !== 200 || !tokens.id_token) throw new Error(`token endpoint ${tok.status} ${JSON.stringify(tokens)}`);
  return { idToken: tokens.id_token, nonce };
}

// The console's ID-token checks; returns the names of those that fail.
function defects(idToken, nonce) {
  const [h, p, s] = idToken.split('.');
  const header = decode(h);
  const claims = decode(p);
  const found = [];
  if (header.alg === 'none') found.push('unsigned');
  else {
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    const ok = header.alg === 'RS256' && jwk && verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
    if (!ok) found.push('signature');
  }
  if (![claims.aud].flat().includes('signalbox')) found.push('audience');
  if (claims.iss !== ISSUER) found.push('issuer');
  if (!(claims.exp > Date.now() / 1000)) found.push('expired');
  if (claims.nonce !== nonce) found.push('nonce');
  return { header, claims, signature: s, found };
}

// The control endpoint itself.
check((await (await fetch(FAULT_URL)).json()).id_token === 'none', 'GET fault: mode is "none" to start with');
{
  const bad = await setFault('made-up');
  check(bad.status === 400 && /allowed: none, wrong-audience/.test(bad.body.error), `unknown mode refused: ${bad.status} ${bad.body.error}`);
  const notJson = await fetch(FAULT_URL, { method: 'POST', body: 'id_token=expired' });
  check(notJson.status === 400, `non-JSON body refused: ${notJson.status}`);
  check((await (await fetch(FAULT_URL)).json()).id_token === 'none', 'mode still "none" after refused requests');
}

const base = defects((await login('rita')).idToken, null); // nonce irrelevant here
const kid = base.header.kid;
check(base.header.alg === 'RS256' && jwks.keys.some((k) => k.kid === kid), `baseline ID token: RS256, kid ${kid} from the JWKS`);

// mode -> [expected failing check, extra condition on the token, what the condition says]
const MODES = {
  none: [null, (t) => t.claims.groups.join() === 'signalbox-approvers', 'groups untouched'],
  'wrong-audience': ['audience', (t) => t.claims.aud === 'someone-else', 'aud "someone-else"'],
  'wrong-issuer': ['issuer', (t) => t.claims.iss === 'http://127.0.0.1:1/evil', 'iss http://127.0.0.1:1/evil'],
  expired: ['expired', (t) => Date.now() / 1000 - t.claims.iat >= 7200 - 60 && t.claims.exp - t.claims.iat === base.claims.exp - base.claims.iat, 'iat and exp 2 h earlier'],
  'wrong-nonce': ['nonce', (t) => typeof t.claims.nonce === 'string', 'nonce present but different'],
  tampered: ['signature', (t) => t.claims.groups.join() === 'signalbox-admins' && t.header.kid === kid, 'groups ["signalbox-admins"], same kid, old signature'],
  unsigned: ['unsigned', (t) => t.signature === '' && !t.header.kid, 'alg none, empty signature'],
};

try {
  for (const [mode, [expected, cond, what]] of Object.entries(MODES)) {
    const set = await setFault(mode);
    check(set.status === 200 && set.body.id_token === mode, `POST fault ${mode}`);
    check((await (await fetch(FAULT_URL)).json()).id_token === mode, `GET fault returns ${mode}`);
    const { idToken, nonce } = await login('rita');
    const t = defects(idToken, nonce);
    const want = expected ? [expected] : [];
    check(t.found.join() === want.join(), `${mode}: fails exactly [${want}] (got [${t.found}])`);
    check(cond(t), `${mode}: ${what}`);
    if (!['tampered', 'unsigned', 'none'].includes(mode)) {
      check(t.header.kid === kid && t.header.alg === 'RS256', `${mode}: re-signed with the real key (RS256, kid ${t.header.kid}), signature verifies`);
    }
    if (mode !== 'tampered') check(t.claims.sub === 'rita' && t.claims.groups.join() === 'signalbox-approvers', `${mode}: sub and groups as issued`);
  }
  // The tampered fault must change the payload for a user who already has exactly the admin group too.
  await setFault('tampered');
  const ada = defects((await login('ada')).idToken, null);
  check(ada.found.includes('signature') && ada.claims.groups.length === 0, `tampered (ada): groups ${JSON.stringify(ada.claims.groups)}, signature fails`);
} finally {
  const reset = await setFault('none');
  check(reset.status === 200 && reset.body.id_token === 'none', 'reset to "none"');
}
const { idToken, nonce } = await login('rita');
check(defects(idToken, nonce).found.length === 0, 'after reset: a clean ID token again');

console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
