// Independent Relying Parties against the broker's OpenID Provider, for the broker's interop test:
// panva/openid-client 6 (an OpenID Certified RP library) runs discovery, the authorization code
// flow with PKCE, state and nonce, the code exchange with ID token validation and a refresh; and
// panva/jose verifies the ID token and the access token (RFC 9068, `typ: at+jwt`) against the
// JWKS on its own. Userinfo, revocation, introspection and RP-initiated logout are exercised when
// discovery advertises them (a note on stderr otherwise).
//
// Usage: node rp.mjs <issuer> <client id> <client secret> <redirect uri>
// Protocol on stdio, one JSON object a line: prints {"authorization_url"}; reads the URL the
// browser was sent back to (the Rust test plays the browser); prints {"ok": true, ...results}.
// Any failure prints {"ok": false, "error"} and exits 1.
import readline from 'node:readline';
import * as client from 'openid-client';
import * as jose from 'jose';

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const note = (text) => process.stderr.write(`note: ${text}\n`);
let step = 'discovery';
const say = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);

async function verifyWithJose(jwks, tokens) {
  const id = await jose.jwtVerify(tokens.id_token, jwks, {
    issuer, audience: clientId, algorithms: ['RS256'],
  });
  const access = await jose.jwtVerify(tokens.access_token, jwks, {
    issuer, audience: clientId, algorithms: ['RS256'], typ: 'at+jwt',
  });
  return { id_token: id.payload, id_header: id.protectedHeader, access_token: access.payload, access_header: access.protectedHeader };
}

// Discovery lists every endpoint of SPEC §7.2, built or not yet: an endpoint is there when it
// answers something other than 404 to a bare request.
async function served(url, method = 'GET') {
  if (!url) return false;
  const res = await fetch(url, { method, redirect: 'manual' });
  await res.arrayBuffer();
  return res.status !== 404;
}

// The endpoints that may not exist yet: each step runs only when discovery lists it and it is
// served.
async function optionalEndpoints(config, tokens, sub) {
  const meta = config.serverMetadata();
  const out = { skipped: [] };
  const skip = (what) => { out.skipped.push(what); note(`${what} is not served yet: skipped`); };
  if (await served(meta.userinfo_endpoint)) {
    out.userinfo = await client.fetchUserInfo(config, tokens.access_token, sub);
  } else skip('userinfo_endpoint');
  if (await served(meta.introspection_endpoint, 'POST')) {
    out.introspection = await client.tokenIntrospection(config, tokens.access_token);
  } else skip('introspection_endpoint');
  if (await served(meta.revocation_endpoint, 'POST')) {
    await client.tokenRevocation(config, tokens.refresh_token);
    try {
      await client.refreshTokenGrant(config, tokens.refresh_token);
      out.refresh_after_revocation = 'accepted';
    } catch (e) {
      out.refresh_after_revocation = e.error ?? String(e);
    }
  } else skip('revocation_endpoint');
  if (await served(meta.end_session_endpoint)) {
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: new URL('/', redirectUri).href,
      state: 'interop-logout',
    });
    out.end_session_url = url.href;
  } else skip('end_session_endpoint');
  return out;
}

async function main() {
  const config = await client.discovery(new URL(issuer), clientId, { redirect_uris: [redirectUri] },
    client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  say({ authorization_url: url.href });
  const { value: callback } = await lines.next();
  step = 'authorization code grant';
  const tokens = await client.authorizationCodeGrant(config, new URL(callback.trim()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  const claims = tokens.claims();
  const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
  step = 'jose';
  const verified = await verifyWithJose(jwks, tokens);
  step = 'refresh';
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  step = 'optional endpoints';
  const optional = await optionalEndpoints(config, refreshed, claims.sub);
  say({
    ok: true,
    discovery: config.serverMetadata(),
    claims,
    token_type: tokens.token_type,
    scope: tokens.scope,
    jose: verified,
    refreshed: {
      token_type: refreshed.token_type,
      rotated: refreshed.refresh_token !== tokens.refresh_token,
      access_token_changed: refreshed.access_token !== tokens.access_token,
      claims: refreshed.claims() ?? null,
    },
    ...optional,
  });
}

main().then(() => process.exit(0), async (e) => {
  let detail = '';
  if (e.cause instanceof Response) {
    detail = ` [${e.cause.status} ${e.cause.url}: ${(await e.cause.text()).slice(0, 300)}]`;
  }
  say({ ok: false, step, error: `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}${e.error ? ` ${e.error}: ${e.error_description}` : ''}${detail}` });
  process.exit(1);
});
