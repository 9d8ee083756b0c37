import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { api, apiWith, eventually } from "./helpers.ts";

export interface DocumentJson {
  id: string;
  ownerId: string;
  title: string;
  tags: string[];
  contentType: string;
  sizeBytes: number;
  sha256: string;
  currentVersion: number;
  status: string;
  scanResult: string | null;
  failureReason: string | null;
  createdAt: string;
  updatedAt: string;
  processedAt: string | null;
}

export interface VersionJson {
  version: number;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  filename: string | null;
  restoredFrom: number | null;
  status: string;
  scanResult: string | null;
  hasThumbnail: boolean;
}

type Headers = Record<string, string>;

/** A multipart upload as a browser form sends it: the file part plus title and tags fields. */
export function formUpload(
  auth: Headers,
  file: { bytes: Uint8Array | string; type: string; name?: string },
  fields: { title?: string; tags?: string[] } = {},
  path = "/documents",
): Promise<Response> {
  const form = new FormData();
  if (fields.title !== undefined) form.append("title", fields.title);
  for (const tag of fields.tags ?? []) form.append("tags", tag);
  form.append("file", new File([file.bytes], file.name ?? "upload.bin", { type: file.type }));
  return api(path, { method: "POST", headers: auth, body: form });
}

/** A raw upload: the file is the body, with its own Content-Type; title and tags in the query. */
export function rawUpload(
  auth: Headers,
  body: Uint8Array | string | ReadableStream<Uint8Array>,
  type: string,
  options: { title?: string; tags?: string; path?: string; headers?: Headers } = {},
): Promise<Response> {
  const query = new URLSearchParams();
  if (options.title !== undefined) query.set("title", options.title);
  if (options.tags !== undefined) query.set("tags", options.tags);
  const length =
    typeof body === "string"
      ? new TextEncoder().encode(body).byteLength
      : body instanceof Uint8Array
        ? body.byteLength
        : undefined;
  const init: RequestInit & { duplex?: "half" } = {
    method: "POST",
    headers: {
      ...auth,
      "content-type": type,
      // As a client's HTTP stack would; a Request built in-process does not add it for us.
      ...(length === undefined ? {} : { "content-length": String(length) }),
      ...options.headers,
    },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" as const } : {}),
  };
  const qs = query.toString();
  return api(`${options.path ?? "/documents"}${qs ? `?${qs}` : ""}`, init);
}

/** A raw text upload to the worker with other bindings (an outage stack, short deadlines). */
export function rawUploadWith(
  bindings: Partial<Env> & object,
  auth: Headers,
  title: string,
  body: BodyInit,
): Promise<Response> {
  return apiWith(bindings, `/documents?title=${encodeURIComponent(title)}`, {
    method: "POST",
    headers: { ...auth, "content-type": "text/plain" },
    body,
    duplex: "half",
  } as RequestInit);
}

/** A body that runs `midway` after its first chunk, then sends the rest. */
export function bodyWithPause(midway: () => Promise<void>): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode("line of a report\n".repeat(512));
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === 1) await midway();
      if (sent === 4) return controller.close();
      controller.enqueue(chunk);
      sent += 1;
    },
  });
}

/** A page of GET /notifications, as the tests read it. */
export interface NotificationPage {
  data: { id: string; type: string; title: string; data: Record<string, unknown>; read: boolean }[];
  unreadCount: number;
}

/** Uploads and returns the created document (fails the test otherwise). */
export async function created(response: Promise<Response>): Promise<DocumentJson> {
  const res = await response;
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as DocumentJson;
}

export async function getDocument(auth: Headers, id: string): Promise<DocumentJson> {
  const res = await api(`/documents/${id}`, { headers: auth });
  if (res.status !== 200) throw new Error(`GET /documents/${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as DocumentJson;
}

const FINAL = ["ready", "quarantined", "failed"];

/** Waits for the processor (a real queue consumer) to finish the document's current version. */
export function processed(auth: Headers, id: string, timeoutMs = 30_000): Promise<DocumentJson> {
  return eventually(async () => {
    const doc = await getDocument(auth, id);
    return FINAL.includes(doc.status) ? doc : undefined;
  }, timeoutMs);
}

export async function bodyBytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/** Bytes decoded as UTF-8 text. */
export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A plain-text body of 1040 bytes (the alphabet 40 times), to read ranges of. */
export const ALPHABET = "abcdefghijklmnopqrstuvwxyz".repeat(40); // 1040 bytes

/** A `text/plain` file uploaded as a form (title "letters") and processed: the document as it ended. */
export async function readyText(auth: Record<string, string>, body = ALPHABET, name = "letters.txt") {
  const doc = await created(formUpload(auth, { bytes: body, type: "text/plain", name }, { title: "letters" }));
  return processed(auth, doc.id);
}

/** Keys under a prefix in a bucket, listed with the production S3 client. */
export async function keysIn(
  bindings: Record<string, string>,
  prefix: string,
  bucket = bindings.S3_BUCKET,
): Promise<string[]> {
  const client = new S3Client({
    region: bindings.S3_REGION ?? "us-east-1",
    endpoint: bindings.S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: bindings.S3_ACCESS_KEY_ID ?? "", secretAccessKey: bindings.S3_SECRET_ACCESS_KEY ?? "" },
  });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (listed.Contents ?? []).flatMap((object) => (object.Key ? [object.Key] : []));
}
