import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Document, TechCorpClient } from "@techcorp/sdk";
import { type Command, Option } from "commander";
import pLimit from "p-limit";
import { type Failure, failureOf } from "../errors.ts";
import { EXIT } from "../exit-codes.ts";
import { id, wholeNumber } from "../options.ts";
import { type CommandContext, signedInClient } from "../session.ts";
import { filesToUpload, type LocalFile } from "../upload/files.ts";
import { silentProgress, terminalProgress, type UploadProgress } from "../upload/progress.ts";
import { PendingUploads, RESUMABLE_FROM_BYTES, uploadResumable } from "../upload/resumable.ts";
import { action } from "./action.ts";

interface UploadOptions {
  project?: string;
  tags?: string[];
  concurrency: number;
  wait: boolean;
}

/** One file's outcome, as `--json` prints it. */
type Outcome = { file: string; ok: true; document: Document } | { file: string; ok: false; error: Failure };

export function registerUploadCommand(program: Command): void {
  program
    .command("upload")
    .description(
      `Upload files and folders (a folder's files recursively, hidden ones skipped), several at once, with a progress bar per file and for all. Files of ${RESUMABLE_FROM_BYTES / 1024 / 1024} MiB and more go in parts and resume where they stopped when run again.`,
    )
    .argument("<paths...>", "files or folders")
    .addOption(new Option("-p, --project <id>", "file the documents in this project").argParser(id))
    .option("-t, --tags <tags...>", "tags for every document")
    .addOption(new Option("-c, --concurrency <n>", "files uploaded at once").argParser(wholeNumber(1, 16)).default(4))
    .option("-w, --wait", "wait until each document is processed (ready, quarantined or failed)", false)
    .action(
      action(async (context, options: UploadOptions, paths: string[]) => {
        const files = await filesToUpload(paths);
        const client = await signedInClient(context);
        const outcomes = await uploadAll(context, client, files, options);
        const failed = outcomes.filter((outcome) => !outcome.ok);
        if (failed.length > 0) context.exitCode = EXIT.failure;
        context.output.result(outcomes, () => summary(outcomes));
      }),
    );
}

async function uploadAll(
  context: CommandContext,
  client: TechCorpClient,
  files: LocalFile[],
  options: UploadOptions,
): Promise<Outcome[]> {
  const totalBytes = files.reduce((sum, file) => sum + file.sizeBytes, 0);
  const progress: UploadProgress = context.output.interactive
    ? terminalProgress(context.output.stderr, files.length, totalBytes)
    : silentProgress;
  const pending = PendingUploads.in(context.configDirectory);
  const limit = pLimit(options.concurrency);
  try {
    return await Promise.all(
      files.map((file) =>
        limit(async (): Promise<Outcome> => {
          progress.start(file.label, file.sizeBytes);
          try {
            let document = await uploadOne(context, client, file, options, pending, (sent) =>
              progress.update(file.label, sent),
            );
            if (options.wait) document = await processed(client, document, context.signal);
            progress.finish(file.label, document.status === "ready" || !options.wait ? undefined : document.status);
            return { file: file.label, ok: true, document };
          } catch (error) {
            if (context.signal.aborted) throw error;
            const failure = failureOf(error);
            progress.finish(file.label, failure.message);
            return { file: file.label, ok: false, error: failure };
          }
        }),
      ),
    );
  } finally {
    progress.stop();
  }
}

function uploadOne(
  context: CommandContext,
  client: TechCorpClient,
  file: LocalFile,
  options: UploadOptions,
  pending: PendingUploads,
  onProgress: (sentBytes: number) => void,
): Promise<Document> {
  if (!file.contentType) throw new Error("unknown file type (by its extension)");
  const target = {
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.project ? { projectId: options.project } : {}),
  };
  if (file.sizeBytes >= RESUMABLE_FROM_BYTES) {
    return uploadResumable({
      client,
      file: { ...file, contentType: file.contentType },
      pending,
      ...target,
      onProgress,
      signal: context.signal,
    });
  }
  return client.uploadDocument({
    body: Readable.toWeb(createReadStream(file.path)) as ReadableStream<Uint8Array>,
    size: file.sizeBytes,
    contentType: file.contentType,
    filename: file.label.split(/[\\/]/).at(-1) ?? file.label,
    ...target,
    onProgress: ({ bytesSent }) => onProgress(bytesSent),
    signal: context.signal,
  });
}

/** Polls the document (every second) until processing ends: ready, quarantined or failed. */
async function processed(client: TechCorpClient, document: Document, signal: AbortSignal): Promise<Document> {
  let current = document;
  while (!["ready", "quarantined", "failed"].includes(current.status)) {
    await sleep(1000, undefined, { signal });
    ({ data: current } = await client.api.GET("/documents/{id}", { params: { path: { id: document.id } }, signal }));
  }
  return current;
}

function summary(outcomes: Outcome[]): string {
  const lines = outcomes.map((outcome) =>
    outcome.ok
      ? `${outcome.document.id}  ${outcome.document.status.padEnd(11)}  ${outcome.file}`
      : `failed                                ${outcome.file}: ${outcome.error.message}`,
  );
  const failed = outcomes.filter((outcome) => !outcome.ok).length;
  lines.push(`${outcomes.length - failed} uploaded${failed ? `, ${failed} failed` : ""}.`);
  return lines.join("\n");
}
