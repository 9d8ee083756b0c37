/**
 * The local OAuth client registry (OAUTH_CLIENTS): the web app (our first-party client, which
 * keeps the password grant), a native app (a private-use scheme, and a loopback redirect at any
 * port), the CLI (device grant) and a resource server (confidential: introspection), as
 * wrangler.toml registers them (the apps' `defaultScopes` with `read write`, which they need to
 * act on data). Its redirect URIs name nothing that listens: a browser shows the code in the
 * address bar. `localOAuthClients` adds the web app's own callback where it is served.
 */
export const LOCAL_OAUTH_CLIENTS = [
  {
    id: "techcorp-first-party",
    name: "TechCorp",
    type: "public",
    applicationType: "web",
    redirectUris: ["https://app.techcorp.test/auth/callback"],
    grantTypes: ["authorization_code", "refresh_token", "password", "urn:techcorp:params:oauth:grant-type:mfa-otp"],
    defaultScopes: ["openid", "profile", "email", "read", "write"],
  },
  {
    id: "techcorp-mobile",
    name: "TechCorp for mobile",
    type: "public",
    applicationType: "native",
    redirectUris: ["com.techcorp.app:/oauth/callback", "http://127.0.0.1/oauth/callback"],
    grantTypes: ["authorization_code", "refresh_token"],
    defaultScopes: ["openid", "profile", "email", "read", "write"],
  },
  {
    id: "techcorp-cli",
    name: "TechCorp CLI",
    type: "public",
    applicationType: "native",
    redirectUris: [],
    grantTypes: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
    defaultScopes: ["openid", "profile", "read", "write"],
  },
  {
    id: "techcorp-resource-server",
    name: "TechCorp resource server",
    type: "confidential",
    applicationType: "web",
    redirectUris: [],
    grantTypes: [],
    defaultScopes: [],
  },
];

/** Where the web app receives the authorization response (web/src/pages/sign-in-callback.tsx). */
export const WEB_APP_CALLBACK_PATH = "/sign-in/callback";

/**
 * The local registry with the web app's callback at `webAppUrl` (an http loopback or localhost
 * address, which the configuration allows a web client outside production) registered for the
 * first-party client: the authorization code flow the web app starts (`npm run dev`, the clients'
 * tests). Without `webAppUrl`, `LOCAL_OAUTH_CLIENTS` as it is.
 */
export function localOAuthClients(webAppUrl?: string): typeof LOCAL_OAUTH_CLIENTS {
  if (!webAppUrl) return LOCAL_OAUTH_CLIENTS;
  return LOCAL_OAUTH_CLIENTS.map((client) =>
    client.id === "techcorp-first-party"
      ? { ...client, redirectUris: [...client.redirectUris, `${webAppUrl}${WEB_APP_CALLBACK_PATH}`] }
      : client,
  );
}
