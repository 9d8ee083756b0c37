import { describe, expect, it } from "vitest";
import { api } from "../helpers.ts";

// The SDK (packages/sdk) is generated from a committed copy of /openapi.json. This test keeps that
// copy equal to what the worker serves, so a route change that is not regenerated into the SDK fails
// here, in `npm test` and CI; test/node/sdk-types.test.ts then keeps the generated types equal to
// what openapi-typescript makes of the copy.
const REFRESH = "the SDK's copy of /openapi.json is stale: run `npm run sdk:generate` and commit packages/sdk";

describe("the SDK's OpenAPI document (packages/sdk/openapi.json)", () => {
  it("is the document the worker serves at /openapi.json, byte for byte once pretty-printed", async () => {
    const response = await api("/openapi.json");
    expect(response.status).toBe(200);
    // Pretty-printed, so that a change to the API shows as a readable diff in review.
    const text = `${JSON.stringify(await response.json(), null, 2)}\n`;
    await expect(text, REFRESH).toMatchFileSnapshot("../../packages/sdk/openapi.json");
  });
});
