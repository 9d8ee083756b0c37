import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { selectVersion } from "../../db/queries/documents.ts";
import type { Document, DocumentVersion } from "../../db/schema/documents.ts";
import { MARKDOWN_PAGE_POLICY, MARKDOWN_RENDERING } from "../../documents/convert.ts";
import { contentDisposition, downloadName, servedContentType, withLength } from "../../documents/download.ts";
import { type ConversionFormat, conversionOf, markdownPage, rendition } from "../../documents/renditions.ts";
import { sha256, toHex } from "../../pkg/crypto/digest.ts";
import { ApiError, invalidField } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { servableVersion } from "./access.ts";
import { contentResponse, downloadHeaders, downloadPreconditions, requestedRange, storedContent } from "./downloads.ts";
import { ContentQuery, DocumentIdParams } from "./schemas.ts";

const binary = { "*/*": { schema: z.string().openapi({ format: "binary" }) } };

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents/{id}/content",
    tags: ["Documents"],
    summary: "Download a version's content (streamed; Range supported)",
    description:
      "Streams the file through the API (access is checked on every request; no URL outlives it), with `Range` for resuming and seeking. Versions not yet scanned, or quarantined, are refused (409). `format=html` converts Markdown, `format=webp|png` converts images. Conditional requests follow RFC 9110 §13: `ETag` (the SHA-256, strong; converted content has its own weak tag) and `Last-Modified` are sent; `If-Match` / `If-Unmodified-Since` that do not hold answer 412, `If-None-Match` (weak comparison, lists and `*`) / `If-Modified-Since` answer 304, and `If-Range` (a strong ETag or the exact date) decides whether `Range` applies. Text is served with `charset=utf-8`.",
    request: { params: DocumentIdParams, query: ContentQuery },
    responses: {
      200: { description: "The content.", content: binary },
      206: { description: "The requested range (Content-Range).", content: binary },
      304: { description: "Unchanged (If-None-Match, or If-Modified-Since without it)." },
      ...problemResponses(400, 404, 409, 412, 416, 422, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const downloadContent = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const query = c.req.valid("query");
  // Access and the version in one HTTP round trip.
  const { document, version } = await servableVersion(c, id, query.version);
  const name = downloadName(version.filename, document.title, version.contentType);
  if (query.format !== "original") return converted(c, document, version, name, query.format, query.disposition);

  const validators = { etag: `"${version.sha256}"`, lastModified: version.createdAt };
  const notModified = downloadPreconditions(c, validators);
  if (notModified) return notModified;
  const range = await requestedRange(c, validators, version.sizeBytes, () =>
    createdInItsOwnSecond(c, version, query.version !== undefined),
  );
  const object = await storedContent(c.get("services").storage, version.storageKey, range);
  return contentResponse(c, object, version.sizeBytes, {
    ...downloadHeaders(validators),
    "Accept-Ranges": "bytes",
    "Content-Disposition": contentDisposition(name, version.contentType, query.disposition),
    "Content-Type": servedContentType(version.contentType),
  });
});

/**
 * Whether a version's date is a strong validator for If-Range: only if the representation cannot
 * have changed twice in that second (RFC 9110 §8.8.2.2). A named version never changes; the
 * current one changed when the version before it was replaced, so that must lie in an earlier
 * second. One HTTP round trip (the version before), only for a current version after the first.
 */
async function createdInItsOwnSecond(c: Context<AppEnv>, version: DocumentVersion, named: boolean): Promise<boolean> {
  if (named || version.version === 1) return true;
  const [rows] = await asCaller(c).read((db) => [
    selectVersion(db, { documentId: version.documentId, version: version.version - 1 }),
  ]);
  const before = firstRow(rows);
  return !before || Math.floor(before.createdAt.getTime() / 1000) < Math.floor(version.createdAt.getTime() / 1000);
}

/** The first 8 bytes of the SHA-256 of `text`, in hex. */
async function shortHash(text: string): Promise<string> {
  return toHex((await sha256(text)).subarray(0, 8));
}

/**
 * Converted content: Markdown to HTML, or an image to WebP / PNG (src/documents/renditions.ts).
 * Its ETag is weak (the bytes depend on the converter's version) and names the format; the HTML
 * page also carries the title, so its tag and date follow a rename. Conditional requests are
 * answered before converting. 400 when the format is not offered for the version's type, 422
 * when the version is too large to convert.
 */
async function converted(
  c: Context<AppEnv>,
  document: Document,
  version: DocumentVersion,
  name: string,
  format: ConversionFormat,
  disposition: "attachment" | "inline",
): Promise<Response> {
  const conversion = conversionOf(version.contentType, format);
  if (!conversion) throw invalidField("query", "/format", `not available for ${version.contentType}`);
  // The request has no body: a limit of the conversion is no 413 (RFC 9110 §15.5.14) but content
  // that cannot be processed as asked (§15.5.21).
  if (version.sizeBytes > conversion.maxBytes) {
    throw new ApiError("unprocessable_content", {
      detail: `Conversion to ${format} handles files up to ${conversion.maxBytes} bytes; this one has ${version.sizeBytes}.`,
    });
  }
  const { title } = document;
  let tag = `${version.sha256}.${format}`;
  let lastModified = version.createdAt;
  if (format === "html") {
    tag += `.${await shortHash(title)}.r${MARKDOWN_RENDERING}`;
    if (document.updatedAt > lastModified) lastModified = document.updatedAt;
  }
  const validators = { etag: `W/"${tag}"`, lastModified };
  const notModified = downloadPreconditions(c, validators);
  if (notModified) return notModified;
  const common = downloadHeaders(validators);
  const { storage, thumbnails } = c.get("services");

  const base = name.replace(/\.[^.]+$/, "");
  if (format !== "html") {
    const type = format === "webp" ? "image/webp" : "image/png";
    const image = await rendition({ storage, thumbnails, logger: c.get("logger") }, document.id, version, format);
    const body = image.body instanceof Uint8Array ? image.body : withLength(image.body, image.size);
    return c.body(body, 200, {
      ...common,
      "Content-Length": String(image.size),
      "Content-Type": type,
      "Content-Disposition": contentDisposition(`${base}.${format}`, type, disposition),
    });
  }
  const page = await markdownPage(storage, version, title);
  return c.body(page, 200, {
    ...common,
    "Content-Length": String(page.byteLength),
    "Content-Type": servedContentType("text/html"),
    "Content-Disposition": contentDisposition(`${base}.html`, "text/html", disposition),
    "Content-Security-Policy": MARKDOWN_PAGE_POLICY,
  });
}
