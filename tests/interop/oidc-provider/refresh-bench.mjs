// The peer figure of the broker's token-endpoint benchmark (`make bench-load`, issue 12):
// panva/oidc-provider answering the refresh_token grant with rotation, on loopback, with the
// same kind of client as the broker's row (confidential, client_secret_basic) and one refresh
// family per load connection. Its access tokens are opaque (kept in its in-memory adapter), so
// each refresh signs one token (the ID token); the broker signs two.
//
// Usage: node refresh-bench.mjs <port> <families>
// Prints one line `ready <json>` with the client and the refresh tokens, then serves.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const [port, families] = process.argv.slice(2).map(Number);
const origin = `http://127.0.0.1:${port}`;
const clientId = 'bench';
const clientSecret = crypto.randomBytes(24).toString('base64url');

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(origin, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: ['http://127.0.0.1:9/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  jwks: { keys: [jwk] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: id, email: `${id}@demo.example.com` }),
  }),
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  ttl: { RefreshToken: 14 * 24 * 3600, AccessToken: 600, IdToken: 600, Grant: 14 * 24 * 3600 },
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const client = await provider.Client.find(clientId);
const tokens = [];
for (let i = 0; i < families; i += 1) {
  const accountId = `bench-user-${i}`;
  const scope = 'openid profile email offline_access';
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  const refresh = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    scope,
    gty: 'authorization_code',
    authTime: Math.floor(Date.now() / 1000),
  });
  tokens.push(await refresh.save());
}

provider.listen(port, '127.0.0.1');
console.log(`ready ${JSON.stringify({ client_id: clientId, client_secret: clientSecret, tokens })}`);
