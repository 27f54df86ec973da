// Runs panva's oidc-provider, a certified OpenID provider, as the upstream issuer of keyward's
// federation tests (internal/oidctest starts it). It serves its real discovery document and JWKS
// and issues JWT access tokens through the client_credentials grant, signed by the provider itself.
//
// Input: OIDCTEST_CONFIG, JSON {jwks: {keys: [private JWKs]}, client_id, client_secret}; the keys
// come from the test so that it can re-sign a genuine token with a single claim changed.
// Output: one line "listening ISSUER" on standard output once it serves. It exits when its
// standard input closes, so that a test process that dies does not leave it running.
//
// A token request takes, besides grant_type=client_credentials and resource, keyward's test
// parameters: audience (the aud claim; any string, unlike a resource indicator), claims (a JSON
// object merged into the token: the claims a platform adds, and sub), ttl (seconds), alg
// (RS256, the default, or ES256) and typ (the header's typ instead of the provider's at+jwt).
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDCTEST_CONFIG);

// The provider alone decides these: a test that could set them would not get a genuine token.
const reserved = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope']);

function testClaims(ctx) {
  const raw = ctx.oidc.body?.claims;
  if (raw === undefined) return {};
  const claims = JSON.parse(raw);
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new Error('claims must be a JSON object');
  }
  for (const name of Object.keys(claims)) {
    if (reserved.has(name)) throw new Error(`claim ${name} is the provider's to set`);
  }
  return claims;
}

let provider;
const server = http.createServer((req, res) => provider.callback()(req, res));

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, {
    jwks: config.jwks,
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (ctx, resource) => {
          const ttl = Number(ctx.oidc.body?.ttl ?? 600);
          const alg = ctx.oidc.body?.alg ?? 'RS256';
          if (!Number.isInteger(ttl) || ttl < 1) throw new Error('ttl must be a positive integer');
          if (alg !== 'RS256' && alg !== 'ES256') throw new Error('alg must be RS256 or ES256');
          return {
            scope: '',
            audience: ctx.oidc.body?.audience ?? resource,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
    formats: {
      customizers: {
        jwt: async (ctx, token, jwt) => {
          Object.assign(jwt.payload, testClaims(ctx));
          const typ = ctx.oidc.body?.typ;
          if (typ !== undefined) jwt.header = { ...jwt.header, typ };
        },
      },
    },
  });
  process.stdout.write(`listening ${issuer}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
