import { password as askPassword, input as askText } from "@inquirer/prompts";
import { createClient, FIRST_PARTY_CLIENT_ID, type TechCorpClient } from "@techcorp/sdk";
import { type Command, Option } from "commander";
import { deleteCredentials, readCredentials, type StoredCredentials, writeCredentials } from "../credentials.ts";
import { UsageError } from "../errors.ts";
import { apiUrlOf, type CommandContext, clientOf, signedInClient, storedFrom } from "../session.ts";
import { action } from "./action.ts";

/** The CLI's own OAuth client: a public client registered for the device grant (RFC 8628). */
export const CLI_CLIENT_ID = "techcorp-cli";

/**
 * Ends a stored session on the server (`POST /auth/logout`) with a client of its own that stores
 * nothing (its refresh, if any, must not overwrite the new credentials); a session already ended
 * or unreachable is left to expire.
 */
async function endSession(stored: StoredCredentials): Promise<void> {
  await clientOf(stored)
    .api.POST("/auth/logout")
    .catch(() => undefined);
}

export function registerAccountCommands(program: Command): void {
  program
    .command("login")
    .description(
      "Sign in. By default with a code you confirm in a browser (OAuth device flow, RFC 8628); --password signs in with a password instead.",
    )
    .option("--password", "sign in with your username (or email) and password")
    .option("-u, --username <name>", "username or email for --password (asked when absent)")
    .option("--password-stdin", "read the password from standard input (for scripts; implies --password)")
    .addOption(new Option("--otp <code>", "the 6-digit code of your authenticator app, when the account has MFA on"))
    .action(
      action(async (context, options: LoginOptions) => {
        const apiUrl = apiUrlOf(context);
        // The session this login replaces, ended on the server once the new one is stored: a
        // refresh token left alive in a file nobody reads any more is a credential nobody watches.
        const previous = await readCredentials(context.configDirectory);
        const viaPassword = options.password || options.passwordStdin;
        const clientId = viaPassword ? FIRST_PARTY_CLIENT_ID : CLI_CLIENT_ID;
        const client = createClient({
          baseUrl: apiUrl,
          clientId,
          onTokens: (tokens) => writeCredentials(context.configDirectory, storedFrom(apiUrl, clientId, tokens)),
        });
        if (viaPassword) await passwordLogin(context, client, options);
        else
          await client.signInWithDevice({
            clientId: CLI_CLIENT_ID,
            signal: context.signal,
            onPrompt: (prompt) =>
              context.output.note(
                [
                  `To sign in, open ${prompt.verificationUriComplete}`,
                  `and check that it shows the code ${prompt.userCode} (or type it in at ${prompt.verificationUri}).`,
                  "Waiting for you to approve…",
                ].join("\n"),
              ),
          });
        const { data: me } = await client.api.GET("/users/me");
        if (previous) await endSession(previous);
        context.output.result({ apiUrl, user: me }, () => `Signed in to ${apiUrl} as ${me.username} (${me.email}).`);
      }),
    );

  program
    .command("logout")
    .description("End this session on the server and forget it here.")
    .action(
      action(async (context) => {
        const stored = await readCredentials(context.configDirectory);
        if (!stored) {
          context.output.result({ signedOut: false }, () => "Not signed in.");
          return;
        }
        let ended = true;
        try {
          const client = await signedInClient(context);
          await client.api.POST("/auth/logout");
        } catch (error) {
          // Forgotten here all the same: an expired or revoked session is as good as ended.
          ended = false;
          context.output.note(
            `The server did not confirm the logout (${(error as Error).message}); forgetting it here.`,
          );
        }
        await deleteCredentials(context.configDirectory);
        context.output.result({ signedOut: true, sessionEnded: ended }, () => `Signed out of ${stored.apiUrl}.`);
      }),
    );

  program
    .command("whoami")
    .description("Who you are signed in as.")
    .action(
      action(async (context) => {
        const client = await signedInClient(context);
        const { data: me } = await client.api.GET("/users/me");
        context.output.result(me, () =>
          [
            `${me.username} <${me.email}>${me.emailVerified ? "" : " (email not verified)"}`,
            `role: ${me.role}`,
            `api: ${client.baseUrl}`,
          ].join("\n"),
        );
      }),
    );
}

interface LoginOptions {
  password?: boolean;
  username?: string;
  passwordStdin?: boolean;
  otp?: string;
}

async function passwordLogin(context: CommandContext, client: TechCorpClient, options: LoginOptions): Promise<void> {
  // The prompts need a terminal: without one (a script, stdin from a file or /dev/null) they would
  // fail half drawn, so say up front what to pass instead.
  if (options.username === undefined) needTerminal("the username", "-u");
  if (!options.passwordStdin) needTerminal("the password", "--password-stdin");
  const username = options.username ?? (await askText({ message: "Username or email:" }, { signal: context.signal }));
  const password = options.passwordStdin
    ? (await readStdin()).replace(/\r?\n$/, "")
    : await askPassword({ message: "Password:", mask: true }, { signal: context.signal });
  const result = await client.signInWithPassword({ username, password });
  if (result.kind === "signed-in") return;
  // With --password-stdin, stdin was the password: the code must come with --otp.
  if (options.otp === undefined && (options.passwordStdin || !process.stdin.isTTY))
    throw new UsageError("this account has MFA on: give the code with --otp");
  const otp =
    options.otp ?? (await askText({ message: "Code from your authenticator app:" }, { signal: context.signal }));
  await client.completeMfaSignIn({ mfaToken: result.mfaToken, otp: otp.trim() });
}

/** @throws UsageError (exit 64) when stdin is not a terminal to ask `what` on. */
function needTerminal(what: string, instead: string): void {
  if (!process.stdin.isTTY) throw new UsageError(`no terminal to ask for ${what}: use ${instead}`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
