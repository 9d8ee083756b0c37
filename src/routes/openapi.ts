/** Operations that need an access token (the `bearerAuth` scheme registered in workers/api/app.ts). */
export const BEARER = [{ bearerAuth: [] }];

/** `application/json` content of `schema`, for a route's request body or response. */
export const json = <S>(schema: S) => ({ content: { "application/json": { schema } } });
