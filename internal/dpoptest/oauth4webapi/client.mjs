// Runs panva's oauth4webapi, a DPoP client nobody at keyward wrote, against keyward: it discovers
// the issuer, exchanges an API key for a DPoP-bound token (client_credentials grant: the key's id
// as client_id, the key as client secret over HTTP Basic), refreshes it with a proof signed by the
// same key pair, and calls a protected URL with each token, following DPoP-Nonce challenges as the
// library's documentation shows. internal/dpoptest runs it.
//
// Input: DPOPTEST_CONFIG, JSON {issuer, client_id, client_secret, resource, scope?}.
// Output: one JSON object on standard output: the token responses' token_type and scope, whether
// a refresh token came back, the key pair's RFC 7638 thumbprint (jkt), and each protected call's
// status and body. A failure prints {error, code?, status?, body?} and exits 1.
import * as oauth from 'oauth4webapi';

const config = JSON.parse(process.env.DPOPTEST_CONFIG);
const insecure = { [oauth.allowInsecureRequests]: true };

// jkt is the RFC 7638 SHA-256 thumbprint of an EC P-256 public key, what cnf.jkt must name.
async function jkt(publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify({ crv, kty, x, y })));
  return Buffer.from(digest).toString('base64url');
}

// withNonce makes a request once more when the server asks for a DPoP nonce; the DPoP handle has
// kept the nonce from the refusal.
async function withNonce(attempt) {
  try {
    return await attempt();
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) return attempt();
    throw err;
  }
}

async function call(accessToken, dpop) {
  const response = await withNonce(() =>
    oauth.protectedResourceRequest(accessToken, 'GET', new URL(config.resource), new Headers(), null, { DPoP: dpop, ...insecure }),
  );
  return { status: response.status, body: await response.text() };
}

async function main() {
  const issuer = new URL(config.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  const client = { client_id: config.client_id };
  const auth = oauth.ClientSecretBasic(config.client_secret);
  const keyPair = await oauth.generateKeyPair('ES256');
  const dpop = oauth.DPoP(client, keyPair);
  const params = new URLSearchParams();
  if (config.scope) params.set('scope', config.scope);

  const first = await withNonce(async () =>
    oauth.processClientCredentialsResponse(as, client,
      await oauth.clientCredentialsGrantRequest(as, client, auth, params, { DPoP: dpop, ...insecure })),
  );
  const firstCall = await call(first.access_token, dpop);
  if (!first.refresh_token) throw new Error('the token response has no refresh token');
  const second = await withNonce(async () =>
    oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, auth, first.refresh_token, { DPoP: dpop, ...insecure })),
  );
  const secondCall = await call(second.access_token, dpop);
  return {
    jkt: await jkt(keyPair.publicKey),
    dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported ?? null,
    token: { token_type: first.token_type, scope: first.scope ?? '', access_token: first.access_token },
    refreshed: { token_type: second.token_type, scope: second.scope ?? '', access_token: second.access_token, rotated: second.refresh_token !== first.refresh_token },
    call: firstCall,
    refreshed_call: secondCall,
  };
}

try {
  process.stdout.write(JSON.stringify(await main()) + '\n');
} catch (err) {
  const out = { error: String(err?.message ?? err), code: err?.code ?? err?.error };
  if (err?.status) out.status = err.status;
  if (err?.cause && typeof err.cause === 'object') out.body = err.cause;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = 1;
}
