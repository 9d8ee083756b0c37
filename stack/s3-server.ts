// Runs s3rver in a process of its own: its listing pagination encrypts continuation tokens with
// DES, which Node only allows under --openssl-legacy-provider (see stack/s3.ts).
import { readdir, readFile, rm, stat } from "node:fs/promises";
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

await server.run();
process.send?.({ ready: true });

const shutdown = () => server.close(() => process.exit(0));
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("disconnect", shutdown);
