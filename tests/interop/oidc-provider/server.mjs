// An independent OpenID Provider for the broker's interop test: panva/oidc-provider, configured
// the way Microsoft Entra ID behaves for one tenant: issuer `{origin}/{tid}/v2.0`, `tid`, `oid`,
// `ver: "2.0"` and `xms_edov` in the ID token, and the signing keys also served at Entra's
// `/{tid}/discovery/v2.0/keys`.
//
// Usage: node server.mjs <port> <tenant id> <client id> <client secret> <redirect uri>
// Prints "ready" when it listens. Any login name signs in as the user of that name
// (`<name>@contoso.example`).
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const [port, tid, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const origin = `http://127.0.0.1:${port}`;
const prefix = `/${tid}/v2.0`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-key', alg: 'RS256', use: 'sig' };
const publicJwk = { kty: privateJwk.kty, n: privateJwk.n, e: privateJwk.e, kid: privateJwk.kid, alg: 'RS256', use: 'sig' };

const provider = new Provider(`${origin}${prefix}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [privateJwk] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id,
      oid: crypto.createHash('sha256').update(id).digest('hex').slice(0, 32).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
      tid,
      ver: '2.0',
      name: id,
      email: `${id}@contoso.example`,
      xms_edov: true,
    }),
  }),
  claims: { openid: ['sub', 'oid', 'tid', 'ver', 'name', 'xms_edov'], email: ['email'], profile: ['name'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  routes: { authorization: '/oauth2/v2.0/authorize', token: '/oauth2/v2.0/token', jwks: '/discovery/keys' },
});
provider.proxy = false;
const callback = provider.callback();

http.createServer((req, res) => {
  if (req.url === `/${tid}/discovery/v2.0/keys`) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [publicJwk] }));
    return;
  }
  if (req.url.startsWith(prefix)) {
    req.url = req.url.slice(prefix.length) || '/';
  }
  callback(req, res);
}).listen(Number(port), '127.0.0.1', () => console.log('ready'));
