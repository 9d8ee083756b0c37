import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialsFile } from "../../packages/cli/src/credentials.ts";
import { filesToUpload } from "../../packages/cli/src/upload/files.ts";
import { PendingUploads, RESUMABLE_FROM_BYTES, uploadResumable } from "../../packages/cli/src/upload/resumable.ts";
import { createClient } from "../../packages/sdk/src/index.ts";
import { accessToken, apiUrl, newAccount, registerVerified, type TestAccount } from "./accounts.ts";

// `techcorp`, run as a person or a script would: its bin, a child process, against the API that
// `wrangler dev` serves for this project, credentials in a config directory of the test's own.

const BIN = path.resolve(import.meta.dirname, "../../packages/cli/bin/techcorp.ts");
/** A well-formed id that no document has. */
const SOME_UUID = "0190c5e2-7b1a-7c3e-9f4d-2a6b8c0d1e3f";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let configDirectory: string;
let work: string;
let owner: TestAccount;
let reader: TestAccount;

function techcorp(
  args: string[],
  options: { input?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { ...process.env, TECHCORP_CONFIG_DIR: configDirectory, TECHCORP_API_URL: apiUrl(), ...options.env },
        maxBuffer: 16 * 1024 * 1024,
        ...(options.cwd ? { cwd: options.cwd } : {}),
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") return reject(error);
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

const json = <T>(run: Run): T => {
  if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
};

interface UploadOutcome {
  file: string;
  ok: boolean;
  document?: { id: string; status: string; title: string; sizeBytes: number };
  error?: { message: string; status?: number };
}

beforeAll(async () => {
  configDirectory = await mkdtemp(path.join(tmpdir(), "techcorp-cli-config-"));
  work = await mkdtemp(path.join(tmpdir(), "techcorp-cli-files-"));
  [owner, reader] = await Promise.all([
    registerVerified(newAccount("cli-owner")),
    registerVerified(newAccount("cli-reader")),
  ]);
});

afterAll(async () => {
  await rm(configDirectory, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe("techcorp, signed out", () => {
  it("--help lists every command and the exit codes", async () => {
    const run = await techcorp(["--help"]);
    expect(run.code).toBe(0);
    for (const command of [
      "login",
      "logout",
      "whoami",
      "upload",
      "ls",
      "search",
      "get",
      "share",
      "rm",
      "restore",
      "notifications",
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
    }
    expect(run.stdout).toContain("77 not signed in");
  });

  it("a command's --help describes its options", async () => {
    const run = await techcorp(["upload", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("--concurrency");
    expect(run.stdout).toContain("resume");
  });

  it("an unknown command or option is a usage error (64)", async () => {
    expect((await techcorp(["fly"])).code).toBe(64);
    const run = await techcorp(["ls", "--colour"]);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain("--colour");
  });

  it("alone, prints the help on stderr as a usage error (64); --version prints the package's version", async () => {
    const alone = await techcorp([]);
    expect(alone.code).toBe(64);
    expect(alone.stderr).toContain("Usage: techcorp");
    const { version } = JSON.parse(
      await readFile(path.resolve(import.meta.dirname, "../../packages/cli/package.json"), "utf8"),
    ) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const run = await techcorp([flag]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`${version}\n`);
    }
    expect((await techcorp(["--help"])).stdout).toContain("--version");
    // `get --version <n>` stays the document's version, not the program's.
    const get = await techcorp(["get", SOME_UUID, "--version", "2"]);
    expect(get.code).toBe(77);
    expect(get.stdout).toBe("");
  });

  it("an id that is not a UUID is a usage error (64), found before asking the API", async () => {
    // Signed out: had any of these reached the API, they would have ended with 77.
    for (const args of [
      ["get", "nope"],
      ["rm", "bogus"],
      ["rm", SOME_UUID, "bogus"],
      ["ls", "--project", "nosuch"],
      ["share", "nope", "grace"],
      ["upload", "-p", "nosuch", "anything.txt"],
    ]) {
      const run = await techcorp(args);
      expect(run.code, args.join(" ")).toBe(64);
      expect(run.stderr, args.join(" ")).toContain("not an id");
    }
    expect((await techcorp(["ls", "--project", "none"])).code).toBe(77);
  });

  it("an API address that is not an http or https URL is a usage error (64)", async () => {
    const option = await techcorp(["--api-url", "notaurl", "whoami"]);
    expect(option.code).toBe(64);
    expect(option.stderr).toContain("an http or https address");
    expect(option.stderr).not.toContain("Failed to parse URL");
    const variable = await techcorp(["login", "--password-stdin", "-u", "ada"], {
      env: { TECHCORP_API_URL: "ftp://api.techcorp.example" },
      input: "secret\n",
    });
    expect(variable.code).toBe(64);
    expect(variable.stderr).toContain("TECHCORP_API_URL");
  });

  it("login --password without a terminal says what to use instead (64) and draws no prompt", async () => {
    // stdin is a pipe here, as in a script or from /dev/null: not a terminal.
    const password = await techcorp(["login", "--password", "-u", "ada"]);
    expect(password.code).toBe(64);
    expect(password.stderr).toContain("no terminal to ask for the password: use --password-stdin");
    expect(password.stderr).not.toContain("\u001b[");
    expect(password.stderr).not.toContain("force closed");
    const username = await techcorp(["login", "--password"]);
    expect(username.code).toBe(64);
    expect(username.stderr).toContain("use -u");
    await expect(stat(credentialsFile(configDirectory))).rejects.toThrow();
  });

  it("a command needing a session says to log in and exits 77", async () => {
    const run = await techcorp(["whoami"]);
    expect(run.code).toBe(77);
    expect(run.stderr).toContain("techcorp login");
  });

  it("a wrong password is refused with the API's problem and request id (exit 1), nothing stored", async () => {
    const run = await techcorp(["login", "--password-stdin", "-u", owner.username], { input: "not the password\n" });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/invalid_grant|Invalid/i);
    expect(run.stderr).toMatch(/request [0-9a-f-]{36}/);
    await expect(stat(credentialsFile(configDirectory))).rejects.toThrow();
  });
});

describe("techcorp, signed in", () => {
  beforeAll(async () => {
    const run = await techcorp(["login", "--password-stdin", "-u", owner.username, "--json"], {
      input: `${owner.password}\n`,
    });
    expect(run.code, run.stderr).toBe(0);
  });

  it("a login over another ends the replaced session on the server", async () => {
    const before = JSON.parse(await readFile(credentialsFile(configDirectory), "utf8")) as { refreshToken: string };
    const again = await techcorp(["login", "--password-stdin", "-u", owner.username], { input: `${owner.password}\n` });
    expect(again.code, again.stderr).toBe(0);
    const refresh = await fetch(`${apiUrl()}/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: before.refreshToken }),
    });
    expect(refresh.status).toBe(400);
    expect((await techcorp(["whoami"])).code).toBe(0);
  });

  it("keeps the credentials readable by the user alone (0600) and knows who it is", async () => {
    const info = await stat(credentialsFile(configDirectory));
    expect(info.mode & 0o777).toBe(0o600);
    const me = json<{ username: string; email: string }>(await techcorp(["whoami", "--json"]));
    expect(me).toMatchObject({ username: owner.username, email: owner.email });
  });

  it("uploads a folder (hidden files skipped, a large file in resumable parts), waits until processed, and lists them", async () => {
    const folder = path.join(work, "reports");
    await mkdir(path.join(folder, "notes"), { recursive: true });
    await mkdir(path.join(folder, ".cache"), { recursive: true });
    await writeFile(path.join(folder, "summary.txt"), "quarterly figures for the heliotrope project\n");
    await writeFile(path.join(folder, "notes", "plan.md"), "# Plan\n\nShip the **heliotrope** release.\n");
    await writeFile(path.join(folder, ".cache", "skip.txt"), "hidden\n");
    const large = Buffer.alloc(RESUMABLE_FROM_BYTES + 1024 * 1024, "heliotrope large file line\n");
    await writeFile(path.join(folder, "large.txt"), large);

    const outcomes = json<UploadOutcome[]>(
      await techcorp(["upload", folder, "--wait", "--json", "--tags", "cli-test"]),
    );
    expect(outcomes.map((outcome) => outcome.file).sort()).toEqual(
      [
        path.join("reports", "large.txt"),
        path.join("reports", "notes", "plan.md"),
        path.join("reports", "summary.txt"),
      ].sort(),
    );
    for (const outcome of outcomes) {
      expect(outcome.ok, JSON.stringify(outcome.error)).toBe(true);
      expect(outcome.document?.status).toBe("ready");
    }
    const largeDocument = outcomes.find((outcome) => outcome.file.endsWith("large.txt"))?.document;
    expect(largeDocument?.sizeBytes).toBe(large.byteLength);

    const listed = json<{ id: string; tags: string[] }[]>(await techcorp(["ls", "--tag", "cli-test", "--json"]));
    expect(listed.map((document) => document.id).sort()).toEqual(
      outcomes.map((outcome) => outcome.document?.id).sort(),
    );

    // Downloaded back, byte for byte, through a .part file renamed at the end.
    const target = path.join(work, "large-copy.txt");
    const saved = json<{ file: string; sizeBytes: number }>(
      await techcorp(["get", largeDocument?.id ?? "", "-o", target, "--json"]),
    );
    expect(saved).toEqual({ id: largeDocument?.id, file: target, sizeBytes: large.byteLength });
    const copy = await readFile(target);
    expect(createHash("sha256").update(copy).digest("hex")).toBe(createHash("sha256").update(large).digest("hex"));
  });

  it("finds documents by their text, shares one so the other user reads it, and deletes it", async () => {
    const file = path.join(work, "memo.txt");
    await writeFile(file, "the marmalade memorandum\n");
    const [uploaded] = json<UploadOutcome[]>(await techcorp(["upload", file, "--wait", "--json"]));
    const id = uploaded?.document?.id ?? "";

    const found = json<{ data: { document: { id: string } }[] }>(await techcorp(["search", "marmalade", "--json"]));
    expect(found.data.map((hit) => hit.document.id)).toContain(id);

    const readerToken = await accessToken(reader);
    const asReader = () =>
      fetch(`${apiUrl()}/documents/${id}`, { headers: { authorization: `Bearer ${readerToken}` } });
    expect((await asReader()).status).toBe(404);
    const shared = await techcorp(["share", id, reader.username]);
    expect(shared.code, shared.stderr).toBe(0);
    expect((await asReader()).status).toBe(200);

    expect((await techcorp(["rm", id])).code).toBe(0);
    const gone = await techcorp(["get", id, "-o", path.join(work, "gone.txt")]);
    expect(gone.code).toBe(4);
    await expect(stat(path.join(work, "gone.txt.part"))).rejects.toThrow();
    // From the trash: back, and shared again as it was.
    const restored = await techcorp(["restore", id]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`restored ${id}`);
    expect((await asReader()).status).toBe(200);
    expect((await techcorp(["restore", id])).code).not.toBe(0);
  });

  it("rm tries every id: reports each deleted and each failed one, and exits with the failure's code", async () => {
    const files = ["rm-one.txt", "rm-two.txt"].map((name) => path.join(work, name));
    for (const file of files) await writeFile(file, `${path.basename(file)}\n`);
    const ids = json<UploadOutcome[]>(await techcorp(["upload", ...files, "--json"])).map(
      (outcome) => outcome.document?.id ?? "",
    );
    const [first = "", second = ""] = ids;

    const run = await techcorp(["rm", first, SOME_UUID, second, "--json"]);
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toEqual({
      deleted: [first, second],
      failed: [
        {
          id: SOME_UUID,
          error: expect.objectContaining({ status: 404, code: "not_found", message: expect.any(String) }),
        },
      ],
    });
    for (const id of ids) expect((await techcorp(["get", id, "-o", path.join(work, "rm-gone.txt")])).code).toBe(4);

    // For people: a line each, and the count.
    const again = await techcorp(["rm", first]);
    expect(again.code).toBe(4);
    expect(again.stdout).toMatch(new RegExp(`^failed +${first}: .*\\(404 not_found\\)$`, "m"));
    expect(again.stdout).toContain("0 deleted, 1 failed.");
  });

  it("get writes into a folder that exists (else 66) and replaces a file only with --force (else 73)", async () => {
    const source = path.join(work, "kept.txt");
    await writeFile(source, "the document's content\n");
    const [uploaded] = json<UploadOutcome[]>(await techcorp(["upload", source, "--json"]));
    const id = uploaded?.document?.id ?? "";

    const missing = await techcorp(["get", id, "-o", path.join(work, "no-such-folder", "x.txt")]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toContain("no such folder");
    expect(missing.stderr).not.toContain("ENOENT");

    const target = path.join(work, "existing.txt");
    await writeFile(target, "mine, not to be lost\n");
    const refused = await techcorp(["get", id, "-o", target]);
    expect(refused.code).toBe(73);
    expect(refused.stderr).toContain("--force");
    expect(await readFile(target, "utf8")).toBe("mine, not to be lost\n");
    const forced = await techcorp(["get", id, "-o", target, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await readFile(target, "utf8")).toBe("the document's content\n");

    // Without -o the stored name, in the current folder: the same rule once the name is known.
    const folder = path.join(work, "downloads");
    await mkdir(folder, { recursive: true });
    expect((await techcorp(["get", id], { cwd: folder })).code).toBe(0);
    expect(await readFile(path.join(folder, "kept.txt"), "utf8")).toBe("the document's content\n");
    await writeFile(path.join(folder, "kept.txt"), "changed here\n");
    const again = await techcorp(["get", id], { cwd: folder });
    expect(again.code).toBe(73);
    expect(await readFile(path.join(folder, "kept.txt"), "utf8")).toBe("changed here\n");
    await expect(stat(path.join(folder, "kept.txt.part"))).rejects.toThrow();
  });

  it("search says how many results it shows of how many", async () => {
    const files = ["one", "two", "three"].map((name) => path.join(work, `zephyrine-${name}.txt`));
    for (const file of files) await writeFile(file, "the zephyrine ledger\n");
    json(await techcorp(["upload", ...files, "--wait", "--json"]));
    const some = await techcorp(["search", "zephyrine", "-n", "2"]);
    expect(some.code, some.stderr).toBe(0);
    expect(some.stdout).toContain("Showing 2 of 3 results (use -n to see more).");
    const all = await techcorp(["search", "zephyrine"]);
    expect(all.stdout).toMatch(/^3 results\.$/m);
  });

  it("reports each failed file and exits 1, having uploaded the others; a missing path is 66", async () => {
    const good = path.join(work, "good.txt");
    const unknown = path.join(work, "data.bin");
    await writeFile(good, "fine\n");
    await writeFile(unknown, Buffer.from([0, 1, 2, 3]));
    const run = await techcorp(["upload", good, unknown, "--json"]);
    expect(run.code).toBe(1);
    const outcomes = JSON.parse(run.stdout) as UploadOutcome[];
    expect(outcomes.find((outcome) => outcome.file === "good.txt")?.ok).toBe(true);
    expect(outcomes.find((outcome) => outcome.file === "data.bin")?.ok).toBe(false);

    const missing = await techcorp(["upload", path.join(work, "nowhere")]);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toContain("no such file or folder");
  });

  it("resumes an interrupted large upload: the parts already stored are not sent again", async () => {
    const file = path.join(work, "resumed.txt");
    const content = Buffer.alloc(RESUMABLE_FROM_BYTES + 2 * 1024 * 1024, "resumed upload line\n");
    await writeFile(file, content);
    const [local] = await filesToUpload([file]);
    if (!local?.contentType) throw new Error("no content type for resumed.txt");
    const stored = JSON.parse(await readFile(credentialsFile(configDirectory), "utf8")) as {
      accessToken: string;
      refreshToken: string;
    };
    const client = createClient({ baseUrl: apiUrl(), credentials: stored });
    // The first run stops after its first part, as a cut connection or Ctrl-C would stop it.
    const controller = new AbortController();
    const firstRun = uploadResumable({
      client,
      file: { ...local, contentType: local.contentType },
      pending: PendingUploads.in(configDirectory),
      onProgress: (sent) => {
        if (sent > 0) controller.abort(new Error("cut"));
      },
      signal: controller.signal,
    });
    await expect(firstRun).rejects.toThrow("cut");
    const pending = JSON.parse(await readFile(path.join(configDirectory, "uploads.json"), "utf8")) as Record<
      string,
      { uploadId: string }
    >;
    const uploadId = pending[file]?.uploadId ?? "";
    const before = await client.api.GET("/uploads/{id}", { params: { path: { id: uploadId } } });
    expect(before.data.parts.map((part) => part.partNumber)).toEqual([1]);

    const [outcome] = json<UploadOutcome[]>(await techcorp(["upload", file, "--json"]));
    const after = await client.api.GET("/uploads/{id}", { params: { path: { id: uploadId } } });
    expect(after.data.status).toBe("completed");
    expect(after.data.documentId).toBe(outcome?.document?.id);
    expect(JSON.parse(await readFile(path.join(configDirectory, "uploads.json"), "utf8"))).toEqual({});

    // Interrupted after the server completed it but before the CLI heard (Ctrl-C at 100 %): the
    // next run finds that upload completed and answers its document, sending nothing again.
    await writeFile(path.join(configDirectory, "uploads.json"), JSON.stringify(pending), { mode: 0o600 });
    const [again] = json<UploadOutcome[]>(await techcorp(["upload", file, "--json"]));
    expect(again?.document?.id).toBe(outcome?.document?.id);
    expect(JSON.parse(await readFile(path.join(configDirectory, "uploads.json"), "utf8"))).toEqual({});
  });

  it("draws a progress bar per file and one for all in a terminal (a pseudo-terminal from script(1))", async () => {
    const folder = path.join(work, "terminal");
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, "one.txt"), "first terminal file\n");
    await writeFile(path.join(folder, "two.md"), "# Second\n");
    const command = [process.execPath, BIN, "upload", folder]
      .map((part) => `'${part.replaceAll("'", "'\\''")}'`)
      .join(" ");
    const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      // script(1) runs the command on a pseudo-terminal and copies what it draws to stdout.
      const child = spawn("script", ["-qefc", command, "/dev/null"], {
        env: {
          ...process.env,
          TECHCORP_CONFIG_DIR: configDirectory,
          TECHCORP_API_URL: apiUrl(),
          COLUMNS: "120",
          TERM: "xterm-256color",
        },
      });
      let text = "";
      child.stdout.on("data", (chunk: Buffer) => {
        text += chunk.toString("utf8");
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, text }));
    });
    expect(output.code, output.text).toBe(0);
    expect(output.text).toContain("all 2 files");
    expect(output.text).toMatch(/100% \|/);
    expect(output.text).toContain(`✓ ${path.join("terminal", "one.txt")}`);
    expect(output.text).toContain(`✓ ${path.join("terminal", "two.md")}`);
    // The cursor is hidden while drawing and shown again at the end.
    expect(output.text).toContain("\u001b[?25l");
    expect(output.text).toContain("\u001b[?25h");
  });

  it("lists notifications (processing outcomes) and marks them read", async () => {
    type Listed = { data: { id: string; title: string; read: boolean }[]; unreadCount: number };
    const listed = json<Listed>(await techcorp(["notifications", "--read-all", "--json"]));
    expect(listed.data.length).toBeGreaterThan(0);
    // Every one listed is read now; the outcome of a document still being processed (an earlier
    // test's) may arrive meanwhile, unread, so the count alone would be a race.
    const after = json<Listed>(await techcorp(["notifications", "--json", "-n", "100"]));
    const shown = new Set(listed.data.map((notification) => notification.id));
    const again = after.data.filter((notification) => shown.has(notification.id));
    expect(again.length).toBe(listed.data.length);
    expect(again.every((notification) => notification.read)).toBe(true);
  });

  it("logout ends the session on the server and forgets it here", async () => {
    const stored = JSON.parse(await readFile(credentialsFile(configDirectory), "utf8")) as { accessToken: string };
    const run = await techcorp(["logout", "--json"]);
    expect(json(run)).toEqual({ signedOut: true, sessionEnded: true });
    await expect(stat(credentialsFile(configDirectory))).rejects.toThrow();
    const refused = await fetch(`${apiUrl()}/users/me`, { headers: { authorization: `Bearer ${stored.accessToken}` } });
    expect(refused.status).toBe(401);
    expect((await techcorp(["whoami"])).code).toBe(77);
  });
});
