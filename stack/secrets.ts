import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { exportJWK, generateKeyPair } from "jose";

/** Secrets the workers need that only the local stack makes up: signing keys and encryption keys. */
export interface LocalSecrets {
  JWT_SIGNING_KEYS: string;
  DATA_ENCRYPTION_KEY: string;
  /** The confidential OAuth clients' secrets, by client id (see `LOCAL_OAUTH_CLIENTS`). */
  OAUTH_CLIENT_SECRETS: string;
  /** The Bearer token the API's GET /metrics requires (the local Prometheus scrapes with it). */
  METRICS_TOKEN: string;
}

async function signingKey(kid: string): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: "ES256" };
}

async function generate(): Promise<LocalSecrets> {
  // Two keys, as after a rotation: the first signs, both verify.
  const keys = [await signingKey(`local-${Date.now()}`), await signingKey("local-previous")];
  return {
    JWT_SIGNING_KEYS: JSON.stringify(keys),
    DATA_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    OAUTH_CLIENT_SECRETS: JSON.stringify({ "techcorp-resource-server": randomBytes(32).toString("base64url") }),
    METRICS_TOKEN: randomBytes(32).toString("base64url"),
  };
}

/** Fresh secrets, or (for dev) the ones kept in `file` so tokens survive a restart. */
export async function localSecrets(file?: string): Promise<LocalSecrets> {
  if (file) {
    const kept = await readFile(file, "utf8").then(
      (text) => JSON.parse(text) as LocalSecrets,
      () => undefined,
    );
    // A file from before a secret was added gets the new one; the kept ones stay.
    if (kept && Object.keys(await generate()).every((key) => key in kept)) return kept;
    const secrets = { ...(await generate()), ...kept };
    await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    return secrets;
  }
  const secrets = await generate();
  if (file) await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
