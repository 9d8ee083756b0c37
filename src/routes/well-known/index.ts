import { createRouter } from "../../app/create-app.ts";
import { serveJwks } from "./jwks.ts";
import { serveMetadata } from "./metadata.ts";

/** `/.well-known`: the token signing keys and the issuer's metadata, public and cacheable. */
export const wellKnownRouter = createRouter().route("/", serveJwks).route("/", serveMetadata);
