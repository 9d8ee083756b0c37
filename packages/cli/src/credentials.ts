import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import envPaths from "env-paths";
import { z } from "zod";

/**
 * What `techcorp login` keeps between runs: the API it signed in to and the session's tokens. The
 * refresh token rotates on every use (README, "Tokens"), so each refresh writes the file again.
 */
export const storedCredentialsSchema = z.object({
  /** The API's origin, e.g. `https://api.techcorp.example`. */
  apiUrl: z.url(),
  /** The OAuth client the tokens were issued to (a refresh must name the same one). */
  clientId: z.string().min(1),
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  /** When the access token expires, ms since the epoch. */
  accessTokenExpiresAt: z.number().int().nonnegative(),
});
export type StoredCredentials = z.infer<typeof storedCredentialsSchema>;

/** Owner read/write only: the file holds a refresh token, which is as good as a password until it rotates. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/**
 * The directory the CLI keeps its files in: `TECHCORP_CONFIG_DIR` when set, else the platform's
 * user config directory (`$XDG_CONFIG_HOME/techcorp` or `~/.config/techcorp` on Linux,
 * `~/Library/Preferences/techcorp` on macOS, `%APPDATA%\techcorp\Config` on Windows; env-paths).
 */
export function configDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.TECHCORP_CONFIG_DIR || envPaths("techcorp", { suffix: "" }).config;
}

export const credentialsFile = (directory: string) => path.join(directory, "credentials.json");

/**
 * The stored credentials, or undefined when there are none.
 * @throws Error naming the file when it exists but is not valid credentials (it is left as it is).
 */
export async function readCredentials(directory: string): Promise<StoredCredentials | undefined> {
  const file = credentialsFile(directory);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = storedCredentialsSchema.safeParse(safeJson(text));
  if (!parsed.success) throw new Error(`${file} is not valid credentials: run \`techcorp login\` again`);
  return parsed.data;
}

/**
 * Writes the credentials with mode 0600 (the directory 0700), through a temporary file renamed into
 * place, so a crash mid-write never leaves a half-written file and no other user can read it at any moment.
 */
export async function writeCredentials(directory: string, credentials: StoredCredentials): Promise<void> {
  await mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
  const file = credentialsFile(directory);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: FILE_MODE });
  // `mode` applies only when the file is created; a leftover temporary file keeps its own.
  await chmod(temporary, FILE_MODE);
  await rename(temporary, file);
}

/** Removes the stored credentials; nothing happens when there are none. */
export async function deleteCredentials(directory: string): Promise<void> {
  await rm(credentialsFile(directory), { force: true });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
