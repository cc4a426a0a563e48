// A real OpenID Connect provider (npm's oidc-provider) on loopback, for the OIDC login tests.
//
//   node tests/support/oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// One confidential client; the accounts below. Logging in uses the provider's own development
// pages (devInteractions): a login form that takes the account's name (any password), then a
// consent form. Prints "issuer <URL>" once it listens; exits when its stdin closes, so it never
// outlives the test that started it.

import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error("usage: oidc_provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI");
  process.exit(2);
}

// who the provider knows, and their groups
const ACCOUNTS = {
  alice: { name: "Alice Analyst", groups: ["analysts"] },
  mallory: { name: "Mallory Outsider", groups: ["visitors"] },
};

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  features: { devInteractions: { enabled: true } },
  // fixed keys would be a secret in the repository; a fresh one per run is enough for tests
  cookies: { keys: [crypto.randomUUID()] },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: account.name, email: `${id}@example.org`, groups: account.groups };
      },
    };
  },
});

const server = provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`issuer ${issuer}`);
});

process.stdin.on("end", () => server.close(() => process.exit(0)));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
