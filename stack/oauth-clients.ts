/**
 * The local OAuth client registry (OAUTH_CLIENTS): the web app (our first-party client, which
 * keeps the password grant), a native app (a private-use scheme, and a loopback redirect at any
 * port), the CLI (device grant) and a resource server (confidential: introspection), as
 * wrangler.toml registers them (the apps' `defaultScopes` with `read write`, which they need to
 * act on data). Its redirect URIs name nothing that listens: a browser shows the code in the
 * address bar.
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
