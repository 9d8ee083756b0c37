// Runs s3rver in a process of its own: its listing pagination encrypts continuation tokens with
// DES, which Node only allows under --openssl-legacy-provider (see stack/s3.ts).
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import S3rver from "s3rver";

const config = JSON.parse(process.argv[2] ?? "{}") as { port: number; directory: string; buckets: string[] };

const server = new S3rver({
  address: "127.0.0.1",
  port: config.port,
  directory: config.directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: config.buckets.map((name) => ({ name, configs: [] })),
});

// s3rver implements neither AbortMultipartUpload nor ListParts, and stores a part for any
// UploadId; these stand in for S3's behaviour (S3 API reference), ahead of its own routes.
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}
const store = (
  server as unknown as { store: { getResourcePath(bucket: string, key: undefined, kind: string): string } }
).store;
const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
async function multipartStandIns(ctx: KoaContext, next: () => Promise<void>): Promise<void> {
  const uploadId = ctx.query.uploadId;
  const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
  if (typeof uploadId !== "string" || !match?.[1] || !match[2] || !/^[0-9a-zA-Z._-]+$/.test(uploadId)) return next();
  const bucket = match[1];
  const key = decodeURIComponent(match[2]);
  const directory = path.join(store.getResourcePath(bucket, undefined, "uploads"), uploadId);
  const exists = await stat(path.join(directory, "key")).then(
    () => true,
    () => false,
  );
  if (!exists) {
    ctx.status = 404;
    ctx.type = "application/xml";
    ctx.body = xml(
      `<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message><UploadId>${escapeXml(uploadId)}</UploadId></Error>`,
    );
    return;
  }
  if (ctx.method === "DELETE") {
    await rm(directory, { recursive: true, force: true });
    ctx.status = 204;
    ctx.body = null;
    return;
  }
  if (ctx.method === "GET") {
    const numbers = (await readdir(directory))
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b);
    const parts = await Promise.all(
      numbers.map(async (number) => {
        const file = path.join(directory, String(number));
        const [info, md5] = await Promise.all([stat(file), readFile(`${file}.md5`, "utf8")]);
        return `<Part><PartNumber>${number}</PartNumber><LastModified>${info.mtime.toISOString()}</LastModified><ETag>"${md5}"</ETag><Size>${info.size}</Size></Part>`;
      }),
    );
    ctx.status = 200;
    ctx.type = "application/xml";
    ctx.body = xml(
      `<ListPartsResult><Bucket>${escapeXml(bucket)}</Bucket><Key>${escapeXml(key)}</Key><UploadId>${uploadId}</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${numbers.at(-1) ?? 0}</NextPartNumberMarker><MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>${parts.join("")}</ListPartsResult>`,
    );
    return;
  }
  return next();
}
(server as unknown as { middleware: unknown[] }).middleware.unshift(multipartStandIns);

// CompleteMultipartUpload as S3 answers it. s3rver's own reads every part back through an MD5 of
// the whole object and writes it again (about 130 ms per 32 MiB here, a third of a multipart
// upload's time), and answers that MD5 as the ETag. S3 checks each listed part's ETag
// (`InvalidPart`) and gives the object the MD5 of the parts' binary MD5s followed by `-<parts>`
// (S3 API reference: CompleteMultipartUpload, "Checking object integrity"); it hashes no part again.
// This keeps the concatenation (one read and one write of the bytes, as a file store must) and
// drops the second hash; the object appears whole, under its name, only once it is written.
const require = createRequire(import.meta.url);
const S3Error = require("s3rver/lib/models/error") as new (code: string, message: string) => Error;
const S3Object = require("s3rver/lib/models/object") as new (
  bucket: string,
  key: string,
  content: null,
  metadata: Record<string, string>,
) => { metadata: Record<string, string> };
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, kind: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: { number: number; etag: string }[],
  ): Promise<{ md5: string; size: number }>;
}
const files = store as unknown as FilesystemStore;
files.putObjectMultipart = async (bucket, uploadId, parts) => {
  const directory = path.join(files.getResourcePath(bucket, undefined, "uploads"), uploadId);
  const [key, metadata] = await Promise.all([
    readFile(path.join(directory, "key"), "utf8"),
    readFile(path.join(directory, "metadata"), "utf8").then((text) => JSON.parse(text) as Record<string, string>),
  ]);
  const md5s: Buffer[] = [];
  for (const [i, part] of parts.entries()) {
    if (i > 0 && part.number <= (parts[i - 1]?.number ?? 0))
      throw new S3Error("InvalidPartOrder", "The list of parts was not in ascending order.");
    const stored = await readFile(path.join(directory, `${part.number}.md5`), "utf8").catch(() => undefined);
    if (stored === undefined || stored !== part.etag)
      throw new S3Error("InvalidPart", "One or more of the specified parts could not be found.");
    md5s.push(Buffer.from(stored, "hex"));
  }
  const objectPath = files.getResourcePath(bucket, key, "object");
  await mkdir(path.dirname(objectPath), { recursive: true });
  const partial = `${objectPath}.${uploadId}.partial`;
  const out = await open(partial, "w");
  let size = 0;
  try {
    for (const part of parts) {
      const bytes = await readFile(path.join(directory, String(part.number)));
      await out.write(bytes);
      size += bytes.length;
    }
  } finally {
    await out.close();
  }
  const etag = `${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-${parts.length}`;
  // s3rver serves the ETag from the object's .md5 file: written, with the metadata, before the object appears.
  await files.putMetadata(bucket, key, new S3Object(bucket, key, null, metadata).metadata, etag);
  await rename(partial, objectPath);
  await rm(directory, { recursive: true, force: true });
  return { md5: etag, size };
};

await server.run();
process.send?.({ ready: true });

const shutdown = () => server.close(() => process.exit(0));
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("disconnect", shutdown);
