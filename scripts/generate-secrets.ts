// `npm run secrets:generate`: values for JWT_SIGNING_KEYS and DATA_ENCRYPTION_KEY.
// To rotate the signing key, put the new key first and keep the current one second: tokens it
// signed keep verifying until they expire, then drop it.
import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair } from "jose";

const { privateKey } = await generateKeyPair("ES256", { extractable: true });
const key = {
  ...(await exportJWK(privateKey)),
  kid: `k-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString("hex")}`,
  alg: "ES256",
};
console.log("JWT_SIGNING_KEYS (a JSON array; prepend to the existing one to rotate):");
console.log(JSON.stringify([key]));
console.log(
  "\nDATA_ENCRYPTION_KEY (to rotate it, follow docs/runbook.md: the old key goes to DATA_ENCRYPTION_KEY_PREVIOUS until `npm run secrets:reseal` has run):",
);
console.log(randomBytes(32).toString("base64"));
