import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Document } from "@techcorp/sdk";
import { type Command, Option } from "commander";
import { decodeHTML } from "entities";
import { CliError, describeError, type Failure, failureOf } from "../errors.ts";
import { EXIT, type ExitCode } from "../exit-codes.ts";
import { id as documentId, ids as documentIds, wholeNumber } from "../options.ts";
import { table } from "../output.ts";
import { signedInClient } from "../session.ts";
import { formatBytes, terminalProgress } from "../upload/progress.ts";
import { action } from "./action.ts";

/** The most `search -n` asks for (the API's own limit). */
const SEARCH_LIMIT = 50;

const documentRows = (documents: readonly Document[]) =>
  table(
    ["ID", "STATUS", "SIZE", "CREATED", "TITLE"],
    documents.map((d) => [d.id, d.status, formatBytes(d.sizeBytes), d.createdAt.slice(0, 10), d.title]),
  );

export function registerDocumentCommands(program: Command): void {
  program
    .command("ls")
    .description("List your documents, newest first (yours, those shared with you, your projects').")
    .option("--tag <tag>", "only documents with this tag")
    .addOption(
      new Option("--status <status>", "only documents with this status").choices([
        "pending",
        "scanning",
        "processing",
        "ready",
        "quarantined",
        "failed",
      ] satisfies Document["status"][]),
    )
    .addOption(
      new Option("--project <id>", 'only this project\'s documents ("none": personal ones)').argParser((value) =>
        value === "none" ? value : documentId(value),
      ),
    )
    .addOption(new Option("-n, --limit <n>", "at most this many").argParser(wholeNumber(1, 10_000)).default(50))
    .action(
      action(
        async (context, options: { tag?: string; status?: Document["status"]; project?: string; limit: number }) => {
          const client = await signedInClient(context);
          const query = {
            ...(options.tag ? { tag: options.tag } : {}),
            ...(options.status ? { status: options.status } : {}),
            ...(options.project ? { project: options.project } : {}),
            limit: Math.min(options.limit, 100),
          };
          const documents: Document[] = [];
          for await (const document of client.paginate("/documents", { params: { query } })) {
            documents.push(document);
            if (documents.length >= options.limit) break;
          }
          context.output.result(documents, () => documentRows(documents) || "No documents.");
        },
      ),
    );

  program
    .command("search")
    .description("Full-text search of the documents you can read (titles, tags and text).")
    .argument("<query>", "what to look for")
    .addOption(new Option("-n, --limit <n>", "results").argParser(wholeNumber(1, SEARCH_LIMIT)).default(10))
    .action(
      action(async (context, options: { limit: number }, query: string) => {
        const client = await signedInClient(context);
        const { data } = await client.api.GET("/search", { params: { query: { q: query, limit: options.limit } } });
        context.output.result(data, () => {
          const lines = data.data.map(
            (hit) => `${hit.document.id}  ${plain(hit.highlights.title)}\n    ${plain(hit.highlights.content ?? "")}`,
          );
          if (data.didYouMean)
            lines.push(`Did you mean "${data.didYouMean.query}"? (${data.didYouMean.total} results)`);
          const total = `${data.total}${data.totalRelation === "gte" ? "+" : ""} result${data.total === 1 ? "" : "s"}`;
          // The API sends at most `limit` hits: say so when there are more than those shown.
          if (data.total > data.data.length)
            lines.push(
              `Showing ${data.data.length} of ${total}${options.limit < SEARCH_LIMIT ? " (use -n to see more)" : ""}.`,
            );
          else lines.push(`${total}.`);
          return lines.join("\n");
        });
      }),
    );

  program
    .command("get")
    .description("Download a document's content (with a progress bar on a terminal).")
    .argument("<id>", "the document's id", documentId)
    .option("-o, --output <file>", "where to write it (default: its stored name, in this folder; - for stdout)")
    .option("-f, --force", "replace the file if it exists (else an existing file is left alone: exit 73)")
    .addOption(new Option("--version <n>", "an earlier version").argParser(wholeNumber(1, 2_147_483_647)))
    .action(
      action(async (context, options: { output?: string; force?: boolean; version?: number }, id: string) => {
        // A file named with -o is checked before anything is asked of the API.
        const named = options.output === undefined || options.output === "-" ? undefined : path.resolve(options.output);
        if (named) await checkTarget(named, options.force);
        const client = await signedInClient(context);
        const download = await client.downloadDocument(
          id,
          options.version === undefined ? {} : { version: options.version },
          context.signal,
        );
        const body = Readable.fromWeb(download.body as import("node:stream/web").ReadableStream<Uint8Array>);
        if (options.output === "-") {
          await pipeline(body, process.stdout, { signal: context.signal });
          return;
        }
        const target = named ?? path.resolve(safeName(download.filename ?? id));
        if (!named)
          await checkTarget(target, options.force).catch((error: unknown) => {
            body.destroy();
            throw error;
          });
        const size = download.size ?? 0;
        const progress = context.output.interactive ? terminalProgress(context.output.stderr, 1, size) : undefined;
        const label = path.basename(target);
        progress?.start(label, size);
        let received = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            received += chunk.byteLength;
            progress?.update(label, received);
            done(null, chunk);
          },
        });
        // Written beside the target and renamed at the end: an interrupted download leaves no half file.
        const partial = `${target}.part`;
        try {
          await pipeline(body, counter, createWriteStream(partial, { mode: 0o600 }), { signal: context.signal });
          await rename(partial, target);
        } catch (error) {
          await rm(partial, { force: true });
          throw error;
        } finally {
          progress?.finish(label);
          progress?.stop();
        }
        context.output.result(
          { id, file: target, sizeBytes: received },
          () => `Saved ${target} (${formatBytes(received)}).`,
        );
      }),
    );

  program
    .command("share")
    .description("Share a document with someone (by email or username).")
    .argument("<id>", "the document's id", documentId)
    .argument("<user>", "their email address or username")
    .addOption(new Option("--access <access>", "what they may do").choices(["read", "write"]).default("read"))
    .action(
      action(async (context, options: { access: "read" | "write" }, id: string, user: string) => {
        const client = await signedInClient(context);
        const { data } = await client.api.PUT("/documents/{id}/shares", {
          params: { path: { id } },
          body: { user, access: options.access },
        });
        context.output.result(
          data,
          () => `Shared with ${user} (${options.access}) if the account exists: the answer is the same either way.`,
        );
      }),
    );

  program
    .command("rm")
    .description(
      "Delete documents (to the trash: `techcorp restore <id>` brings one back within 7 days, then it is purged with its files and versions). Every id is tried: each deleted and each failed one is reported, and the exit code is the first failure's.",
    )
    .argument("<ids...>", "the documents' ids", documentIds)
    .action(
      action(async (context, _options: object, ids: string[]) => {
        const client = await signedInClient(context);
        const deleted: string[] = [];
        const failed: { id: string; error: Failure }[] = [];
        let firstFailure: ExitCode | undefined;
        for (const id of ids) {
          try {
            await client.api.DELETE("/documents/{id}", { params: { path: { id } }, signal: context.signal });
            deleted.push(id);
          } catch (error) {
            if (context.signal.aborted) throw error;
            firstFailure ??= describeError(error).code;
            failed.push({ id, error: failureOf(error) });
          }
        }
        if (firstFailure !== undefined) context.exitCode = firstFailure;
        context.output.result({ deleted, failed }, () =>
          [
            ...deleted.map((id) => `deleted  ${id}`),
            ...failed.map(({ id, error }) => `failed   ${id}: ${error.message}${problemOf(error)}`),
            `${deleted.length} deleted${failed.length ? `, ${failed.length} failed` : ""}.`,
          ].join("\n"),
        );
      }),
    );

  program
    .command("restore")
    .description("Bring back a document deleted less than 7 days ago, with its files, versions and shares.")
    .argument("<id>", "the document's id", documentId)
    .action(
      action(async (context, _options: object, id: string) => {
        const client = await signedInClient(context);
        const { data } = await client.api.POST("/documents/{id}/restore", {
          params: { path: { id } },
          signal: context.signal,
        });
        context.output.result(data, () => `restored ${data.id}  ${data.title}`);
      }),
    );
}

/** A failure's status and code, for people: ` (404 not_found)`. */
const problemOf = (failure: Failure) =>
  failure.status === undefined ? "" : ` (${failure.status}${failure.code ? ` ${failure.code}` : ""})`;

/**
 * Where `get` is to write must be in a folder that exists (else exit 66) and, without --force, not
 * be a file already (exit 73); a folder is never replaced.
 */
async function checkTarget(target: string, force: boolean | undefined): Promise<void> {
  const folder = path.dirname(target);
  const folderInfo = await stat(folder).catch(() => undefined);
  if (!folderInfo?.isDirectory())
    throw new CliError(`${folder}: no such folder to write ${path.basename(target)} in`, EXIT.noInput);
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw new CliError(`${target} is a folder: name a file with -o`, EXIT.cannotCreate);
  if (existing && !force)
    throw new CliError(`${target} exists: add --force to replace it, or name another file with -o`, EXIT.cannotCreate);
}

/** Search highlights are HTML whose only elements are <mark>: for a terminal, the text alone. */
const plain = (html: string) => decodeHTML(html.replace(/<\/?mark>/g, ""));

/** The stored name without any folder part, so a download never writes outside this folder. */
const safeName = (name: string) => path.basename(name.replace(/\\/g, "/")) || "download";
