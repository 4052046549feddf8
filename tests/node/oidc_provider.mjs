// A real OpenID Connect provider (oidc-provider, a certified implementation) on loopback for the identity
// tests. Usage: node oidc_provider.mjs <config.json>; prints "ready <issuer>" when it serves.
// config: {clients: [{client_id, client_secret, claims}], resources: [{indicator, audience, scope, ttl}]}.
// Clients use the client_credentials grant with a resource indicator and get JWT access tokens whose extra
// claims are the client's `claims` (how a provider would carry roles, groups, IDs).
// Test-only routes: POST /_rotate?keep=1 (a new signing key; keep=1 keeps the old one published) and
// GET /_stats (how often discovery and the JWKS were fetched).
import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const stats = { discovery: 0, jwks: 0 };
let keys = [newKey()];
let provider;
let handler;

function newKey() {
  // Not `generateKeyPairSync(...).privateKey.export({ format: 'jwk' })`: on Node 20 that export can deadlock
  // for good (seen under gdb: ExportJWK holds the key's mutex, a garbage collection during it runs the
  // finished KeyGenJob's destructor, which waits for the same mutex). The key leaves the job as PEM, and the
  // key object exported to JWK is one no job refers to.
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { ...createPrivateKey(privateKey).export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function build(issuer) {
  const clients = Object.fromEntries(config.clients.map((c) => [c.client_id, c.claims || {}]));
  const resources = Object.fromEntries(config.resources.map((r) => [r.indicator, r]));
  const made = new Provider(issuer, {
    jwks: { keys },
    clients: config.clients.map((c) => ({
      client_id: c.client_id, client_secret: c.client_secret, grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [],
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => config.resources[0].indicator,
        getResourceServerInfo: async (ctx, indicator) => {
          const resource = resources[indicator];
          if (!resource) throw new Provider.errors.InvalidTarget();
          return {
            audience: resource.audience, scope: resource.scope, accessTokenFormat: 'jwt',
            accessTokenTTL: resource.ttl || 300, jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: async (ctx, token) => clients[token.clientId],
  });
  return made;
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/_stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  if (url.pathname === '/_rotate' && req.method === 'POST') {
    keys = url.searchParams.get('keep') === '1' ? [newKey(), ...keys] : [newKey()];
    provider = build(provider.issuer);
    handler = provider.callback();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kids: keys.map((k) => k.kid) }));
    return;
  }
  if (url.pathname === '/.well-known/openid-configuration') stats.discovery += 1;
  if (url.pathname === '/jwks') stats.jwks += 1;
  handler(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build(issuer);
  handler = provider.callback();
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
