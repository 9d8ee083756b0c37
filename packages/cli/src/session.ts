import { createClient, jwtExpiry, type TechCorpClient, type TokenSet } from "@techcorp/sdk";
import { configDirectory, readCredentials, type StoredCredentials, writeCredentials } from "./credentials.ts";
import type { Output } from "./output.ts";

/** Where the API is when nothing says otherwise. */
export const DEFAULT_API_URL = "https://api.techcorp.example";

/** A command that needs a session was run without one (or after `logout`). */
export class NotSignedInError extends Error {
  constructor() {
    super("not signed in: run `techcorp login`");
    this.name = "NotSignedInError";
  }
}

/** What every command is given: its output, the options every command takes, the config directory. */
export interface CommandContext {
  output: Output;
  /** `--api-url` or `TECHCORP_API_URL`, when given. */
  apiUrl: string | undefined;
  configDirectory: string;
  /** The exit code the command ends with (errors aside, which `run` maps). */
  exitCode: number;
  /** Aborted on Ctrl-C: long transfers stop and the command ends with 130. */
  signal: AbortSignal;
}

export function contextFor(output: Output, apiUrl: string | undefined, signal: AbortSignal): CommandContext {
  return { output, apiUrl, configDirectory: configDirectory(), exitCode: 0, signal };
}

/** The API to talk to: the option or variable, else where the stored session is, else the default. */
export const apiUrlOf = (context: CommandContext, stored?: StoredCredentials) =>
  (context.apiUrl ?? stored?.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, "");

/**
 * A client signed in with the stored session; every token rotation is written back (mode 0600) before
 * the call that caused it goes on, since the old refresh token stops working.
 * @throws NotSignedInError when no credentials are stored, or they are for another API than `--api-url`.
 */
export async function signedInClient(context: CommandContext): Promise<TechCorpClient> {
  const stored = await readCredentials(context.configDirectory);
  if (!stored || (context.apiUrl !== undefined && apiUrlOf(context) !== stored.apiUrl)) throw new NotSignedInError();
  return clientOf(stored, (tokens) =>
    writeCredentials(context.configDirectory, storedFrom(stored.apiUrl, stored.clientId, tokens)),
  );
}

/**
 * A client of the stored session; `onTokens` receives its refreshed tokens (none: they are not
 * kept, as for a session being ended).
 */
export function clientOf(stored: StoredCredentials, onTokens?: (tokens: TokenSet) => Promise<void>): TechCorpClient {
  return createClient({
    baseUrl: stored.apiUrl,
    clientId: stored.clientId,
    credentials: {
      accessToken: stored.accessToken,
      refreshToken: stored.refreshToken,
      expiresAt: stored.accessTokenExpiresAt,
    },
    onTokens,
  });
}

/** The credentials to store for a new or refreshed session. */
export function storedFrom(apiUrl: string, clientId: string, tokens: TokenSet): StoredCredentials {
  return {
    apiUrl,
    clientId,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    accessTokenExpiresAt: tokens.expiresAt ?? jwtExpiry(tokens.accessToken) ?? 0,
  };
}
