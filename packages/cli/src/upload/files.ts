import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import mime from "mime";

/** A file the user asked to upload, found on disk. */
export interface LocalFile {
  /** Its path as found (absolute). */
  path: string;
  /** What the progress display and results call it: the path relative to the folder given, or the name. */
  label: string;
  sizeBytes: number;
  /** Modification time, ms since the epoch: with the size, tells a resumed upload's file unchanged. */
  modifiedAt: number;
  /** Its media type by extension (the API checks it against the first bytes), or undefined when unknown. */
  contentType: string | undefined;
}

/** A path given on the command line that does not exist or is neither a file nor a folder. */
export class MissingInputError extends Error {
  readonly input: string;

  constructor(input: string) {
    super(`${input}: no such file or folder`);
    this.name = "MissingInputError";
    this.input = input;
  }
}

/**
 * The files to upload for `inputs`, files and folders (a folder's files recursively, in name
 * order; hidden files and folders, whose names start with ".", are skipped inside folders).
 * Symbolic links are followed when named, not when met inside a folder.
 * @throws MissingInputError for the first input that does not exist.
 */
export async function filesToUpload(inputs: readonly string[]): Promise<LocalFile[]> {
  const found: LocalFile[] = [];
  for (const input of inputs) {
    const absolute = path.resolve(input);
    const info = await stat(absolute).catch(() => undefined);
    if (info?.isFile()) found.push(localFile(absolute, path.basename(absolute), info));
    else if (info?.isDirectory()) found.push(...(await folderFiles(absolute)));
    else throw new MissingInputError(input);
  }
  return found;
}

async function folderFiles(folder: string): Promise<LocalFile[]> {
  const base = path.basename(folder);
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  const files: LocalFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const absolute = path.join(entry.parentPath, entry.name);
    const relative = path.relative(folder, absolute);
    if (relative.split(path.sep).some((part) => part.startsWith("."))) continue;
    files.push(localFile(absolute, path.join(base, relative), await stat(absolute)));
  }
  return files.sort((a, b) => a.label.localeCompare(b.label));
}

function localFile(absolute: string, label: string, info: { size: number; mtimeMs: number }): LocalFile {
  return {
    path: absolute,
    label,
    sizeBytes: info.size,
    modifiedAt: Math.trunc(info.mtimeMs),
    contentType: mime.getType(absolute) ?? undefined,
  };
}
