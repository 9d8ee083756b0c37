import { z } from "zod";
import { sha256, toHex } from "../crypto/digest.ts";
import { DependencyError } from "../errors/api-error.ts";
import { DeadlineExceededError, withDeadline } from "../errors/deadline.ts";
import { timeCall } from "../metrics/recorder.ts";
import { traceHeaders } from "../tracing/tracing.ts";

/**
 * Bytes of internal metadata Cloudflare Queues adds to each message, which count toward its limits
 * ("up to ~100 bytes": Cloudflare docs, "Queues limits", footnote 1).
 */
export const MESSAGE_METADATA_BYTES = 100;

/**
 * The largest message body in bytes, as UTF-8 JSON: 127,900. Cloudflare Queues' per-message limit
 * is 128 KB, where 1 KB is 1000 bytes and the message's metadata ({@link MESSAGE_METADATA_BYTES})
 * counts toward it (Cloudflare docs, "Queues limits"); a bigger one is refused by `send`. Events
 * carry ids, never file contents, so only a bug comes near it.
 */
export const MAX_MESSAGE_BYTES = 128_000 - MESSAGE_METADATA_BYTES;

/** The most messages one `sendBatch` takes (Cloudflare docs, "Queues limits"). */
export const MAX_BATCH_MESSAGES = 100;

/**
 * The most bytes one `sendBatch` takes: 256 KB (1 KB = 1000 bytes), counting each message's body as
 * UTF-8 JSON plus its {@link MESSAGE_METADATA_BYTES} (Cloudflare docs, "Queues limits"). The local
 * runtime does not enforce it, so only production would refuse a bigger batch.
 */
export const MAX_BATCH_BYTES = 256_000;

const envelope = {
  /** Unique per event; consumers use it to recognise a redelivery. */
  id: z.uuid(),
  /** The request that caused the event, so the processor's logs join the API's. */
  requestId: z.string().min(1).max(255),
  occurredAt: z.iso.datetime(),
  version: z.literal(1),
  /**
   * The W3C Trace Context of the span that sent it (W3C Trace Context §3.2, §3.3), so the consumer's
   * spans join the sender's trace; absent when nothing was traced.
   */
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional(),
  tracestate: z.string().max(512).optional(),
};

// --- document-events ---

/** A version of a document was stored: the processor scans, indexes and thumbnails it. */
export const DocumentUploadedSchema = z.object({
  ...envelope,
  type: z.literal("document.uploaded"),
  documentId: z.uuid(),
  /** Which version of the document to process. */
  documentVersion: z.number().int().positive(),
});

/** Sent by `GET /ready` to prove the producer binding works; the processor acks it. */
export const SystemPingSchema = z.object({ ...envelope, type: z.literal("system.ping") });

/** The roles of a project member, as events carry them. */
const projectRole = z.enum(["owner", "admin", "editor", "viewer"]);

/** What every project event carries: the project and who acted (the Notification Service names them). */
const projectEvent = {
  ...envelope,
  projectId: z.uuid(),
  actorId: z.uuid(),
};

/** A user was invited to a project (`userId`, as `role`); they accept or decline. */
export const MemberInvitedSchema = z.object({
  ...projectEvent,
  type: z.literal("project.member_invited"),
  userId: z.uuid(),
  role: projectRole,
  invitationId: z.uuid(),
});

/** A user joined a project (`userId`, as `role`), accepting an invitation. */
export const MemberJoinedSchema = z.object({
  ...projectEvent,
  type: z.literal("project.member_joined"),
  userId: z.uuid(),
  role: projectRole,
});

/** A member left a project (`userId` = `actorId`) or was removed from it. */
export const MemberRemovedSchema = z.object({
  ...projectEvent,
  type: z.literal("project.member_removed"),
  userId: z.uuid(),
});

/** A member's role changed (a role change, or a transfer of ownership). */
export const MemberRoleChangedSchema = z.object({
  ...projectEvent,
  type: z.literal("project.member_role_changed"),
  userId: z.uuid(),
  role: projectRole,
  previousRole: projectRole,
});

/**
 * A document moved between projects or personal documents. `projectId` is where it is now, or
 * where it was when it became someone's personal document (`toProjectId` null).
 */
export const DocumentMovedSchema = z.object({
  ...projectEvent,
  type: z.literal("document.moved"),
  documentId: z.uuid(),
  fromProjectId: z.uuid().nullable(),
  toProjectId: z.uuid().nullable(),
  /** Who owned (uploaded) it before the move: a move to the mover's personal documents changes its owner. */
  previousOwnerId: z.uuid(),
  /** Its title when it moved (a later rename is not told to those who may not read it). */
  title: z.string().max(255),
});

/** The Project Service's events, each published after its change committed. */
export const PROJECT_EVENT_TYPES = [
  "project.member_invited",
  "project.member_joined",
  "project.member_removed",
  "project.member_role_changed",
  "document.moved",
] as const;

/** Every message of the `document-events` queue, told apart by `type`: the API's event bus. */
export const DocumentEventSchema = z.discriminatedUnion("type", [
  DocumentUploadedSchema,
  SystemPingSchema,
  MemberInvitedSchema,
  MemberJoinedSchema,
  MemberRemovedSchema,
  MemberRoleChangedSchema,
  DocumentMovedSchema,
]);

export type DocumentUploaded = z.infer<typeof DocumentUploadedSchema>;
export type DocumentEvent = z.infer<typeof DocumentEventSchema>;
/** One of the Project Service's events (`PROJECT_EVENT_TYPES`). */
export type ProjectEvent = Extract<DocumentEvent, { type: (typeof PROJECT_EVENT_TYPES)[number] }>;

/** Whether an event of the `document-events` queue is one of the Project Service's. */
export const isProjectEvent = (event: DocumentEvent): event is ProjectEvent =>
  (PROJECT_EVENT_TYPES as readonly string[]).includes(event.type);

// --- notifications ---

/**
 * What a notification is about: a document processed clean, found infected, or failed; or one of
 * the Project Service's events (`PROJECT_EVENT_TYPES`). Webhooks subscribe to these.
 */
export const NOTIFICATION_KINDS = [
  "document.ready",
  "document.quarantined",
  "document.failed",
  "project.member_invited",
  "project.member_joined",
  "project.member_removed",
  "project.member_role_changed",
  "document.moved",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** Something a user should hear about: stored in-app, and sent to their webhooks. */
export const NotificationRequestedSchema = z.object({
  ...envelope,
  type: z.literal("notification.requested"),
  userId: z.uuid(),
  kind: z.enum(NOTIFICATION_KINDS),
  title: z.string().min(1).max(255),
  body: z.string().max(2000),
  data: z.record(z.string(), z.unknown()),
});

/** One attempt-able delivery of a stored notification to one webhook (retried on its own). */
export const WebhookDeliverySchema = z.object({
  ...envelope,
  type: z.literal("webhook.deliver"),
  deliveryId: z.uuid(),
});

/** The most parameters a mail message carries. */
export const MAX_MAIL_PARAMS = 16;
/** The longest parameter value of a mail message, in UTF-16 code units (a URL with a token fits). */
export const MAX_MAIL_PARAM_LENGTH = 1024;

/**
 * An email to send: a template's name and its parameters, rendered by the processor. At most
 * {@link MAX_MAIL_PARAMS} parameters of at most {@link MAX_MAIL_PARAM_LENGTH} characters, so that
 * even the largest message (every character one JSON writes as a six-byte `\uXXXX` escape) stays
 * near 100 KB, under `MAX_MESSAGE_BYTES`; a real one is under 1 KB. The event id is the mail's identity: its
 * Message-ID, the same on every retry.
 */
export const MailRequestedSchema = z.object({
  ...envelope,
  type: z.literal("mail.requested"),
  to: z.email().max(254),
  template: z
    .string()
    .max(64)
    .regex(/^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$/),
  params: z
    .record(z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,63}$/), z.string().max(MAX_MAIL_PARAM_LENGTH))
    .refine((params) => Object.keys(params).length <= MAX_MAIL_PARAMS, `at most ${MAX_MAIL_PARAMS} parameters`),
});

/** Every message of the `notifications` queue, told apart by `type`. */
export const NotificationEventSchema = z.discriminatedUnion("type", [
  NotificationRequestedSchema,
  WebhookDeliverySchema,
  MailRequestedSchema,
]);

export type NotificationRequested = z.infer<typeof NotificationRequestedSchema>;
export type WebhookDelivery = z.infer<typeof WebhookDeliverySchema>;
export type MailRequested = z.infer<typeof MailRequestedSchema>;
export type NotificationEvent = z.infer<typeof NotificationEventSchema>;

// --- publishing ---

/** Distributes `Omit` over a union so each event keeps its own fields. */
type EventInput<E> = E extends { type: string } ? Omit<E, "id" | "occurredAt" | "version"> : never;

/** An event whose JSON exceeds `MAX_MESSAGE_BYTES`: a bug in what the event carries, never sent. */
export class MessageTooLargeError extends Error {
  constructor(bytes: number) {
    super(`queue message of ${bytes} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
    this.name = "MessageTooLargeError";
  }
}

/** The size of a message body as Queues counts it, in bytes: its JSON, encoded as UTF-8. */
const messageBytes = (body: unknown): number => new TextEncoder().encode(JSON.stringify(body)).byteLength;

/** Throws `MessageTooLargeError` unless `body`, as UTF-8 JSON, fits in one queue message (`MAX_MESSAGE_BYTES`). */
export function assertFitsInMessage(body: unknown): void {
  sizeOfMessage(body);
}

/** `body`'s size in bytes as {@link messageBytes}, or `MessageTooLargeError` over `MAX_MESSAGE_BYTES`. */
function sizeOfMessage(body: unknown): number {
  const bytes = messageBytes(body);
  if (bytes > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(bytes);
  return bytes;
}

/**
 * Splits messages of the given sizes (bytes, each at most `MAX_MESSAGE_BYTES`) into consecutive
 * batches, in order, none over `MAX_BATCH_MESSAGES` messages or `MAX_BATCH_BYTES` with metadata:
 * each batch takes messages until the next one would not fit. Returns the batches as index ranges
 * `[start, end)`.
 */
function batchRanges(sizes: number[]): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  let bytes = 0;
  sizes.forEach((size, index) => {
    const counted = size + MESSAGE_METADATA_BYTES;
    if (index - start === MAX_BATCH_MESSAGES || bytes + counted > MAX_BATCH_BYTES) {
      ranges.push([start, index]);
      start = index;
      bytes = 0;
    }
    bytes += counted;
  });
  if (start < sizes.length) ranges.push([start, sizes.length]);
  return ranges;
}

/**
 * An event id derived from what caused the event (an RFC 9562 version 8 UUID from a SHA-256):
 * the same cause always gives the same id, so a consumer deduplicating by id does the work once
 * however often the cause is replayed.
 */
export async function derivedEventId(...parts: string[]): Promise<string> {
  const bytes = (await sha256(parts.join("\u0000"))).subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = toHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Completes an event with its id (a random UUID unless given), time (`occurredAt`, ISO 8601 UTC)
 * and version, validates it and checks the size limit. Throws the schema's `ZodError` when the
 * input does not fit the schema, and `MessageTooLargeError`: both are bugs of the caller, raised
 * before anything is sent.
 */
export function buildEvent<S extends z.ZodType<{ type: string }>>(
  schema: S,
  input: EventInput<z.infer<S>> & { id?: string },
): z.infer<S> {
  return completeEvent(schema, input).event;
}

/** `buildEvent`, with the event's size in bytes as a queue message counts it. */
function completeEvent<S extends z.ZodType<{ type: string }>>(
  schema: S,
  input: EventInput<z.infer<S>> & { id?: string },
): { event: z.infer<S>; bytes: number } {
  // The active span's context unless the caller names the trace (an event about another request's work).
  const event = schema.parse({
    id: crypto.randomUUID(),
    ...traceHeaders(),
    ...input,
    occurredAt: new Date().toISOString(),
    version: 1,
  });
  return { event, bytes: sizeOfMessage(event) };
}

/**
 * Sends events of one queue. Both methods resolve to the events as sent (with their ids) and throw
 * as `buildEvent` before sending, or `DependencyError` (see `createPublisher`) when a send fails.
 */
export interface Publisher<E extends { type: string }> {
  /** One event, one `send`. */
  publish(input: EventInput<E> & { id?: string }): Promise<E>;
  /**
   * Every event validated first, then sent in order, as few `sendBatch` calls as Queues' limits
   * allow (`MAX_BATCH_MESSAGES` messages and `MAX_BATCH_BYTES` per batch). A failure stops there:
   * the batches sent before it stay sent.
   */
  publishAll(inputs: (EventInput<E> & { id?: string })[]): Promise<E[]>;
}

/** How long one send (or `sendBatch`) to a queue may take by default, in ms (QUEUE_TIMEOUT_MS). */
export const QUEUE_TIMEOUT_MS = 5_000;

/**
 * Publishes validated events of one schema to a Cloudflare Queue producer binding. A send that
 * fails, or has not been accepted within `timeoutMs`, throws `DependencyError(name)` (for the
 * deadline its cause is a `DeadlineExceededError`; a send cannot be recalled, so a late one may
 * still arrive, which consumers tolerate: they deduplicate by event id). `destination`, the
 * queue's name, names its sends in metrics and spans (`document-events.send`).
 */
export function createPublisher<S extends z.ZodType<{ type: string }>>(
  queue: Queue,
  schema: S,
  name: string,
  timeoutMs = QUEUE_TIMEOUT_MS,
  destination = name,
): Publisher<z.infer<S>> {
  const send = async (sending: () => Promise<unknown>, operation: "send" | "sendBatch") => {
    try {
      // Timed as a dependency call: `queue` with `<queue>.send` or `<queue>.sendBatch`.
      await timeCall("queue", `${destination}.${operation}`, () =>
        withDeadline(sending(), new DeadlineExceededError(name, timeoutMs, "send")),
      );
    } catch (error) {
      throw new DependencyError(name, error);
    }
  };
  return {
    async publish(input) {
      const event = buildEvent(schema, input);
      await send(() => queue.send(event, { contentType: "json" }), "send");
      return event;
    },
    async publishAll(inputs) {
      const built = inputs.map((input) => completeEvent(schema, input));
      const events = built.map(({ event }) => event);
      for (const [start, end] of batchRanges(built.map(({ bytes }) => bytes))) {
        const batch = events.slice(start, end).map((body) => ({ body, contentType: "json" as const }));
        await send(() => queue.sendBatch(batch), "sendBatch");
      }
      return events;
    },
  };
}

/** The `document-events` queue's publisher. */
export type EventPublisher = Publisher<DocumentEvent>;

/** The document-events queue; its failures are `DependencyError("queue")`. */
export const createQueuePublisher = (queue: Queue, timeoutMs?: number): EventPublisher =>
  createPublisher(queue, DocumentEventSchema, "queue", timeoutMs, "document-events");

/** The `notifications` queue's publisher. */
export type NotificationPublisher = Publisher<NotificationEvent>;

/** The notifications queue; its failures are `DependencyError("notifications queue")`. */
export const createNotificationPublisher = (queue: Queue, timeoutMs?: number): NotificationPublisher =>
  createPublisher(queue, NotificationEventSchema, "notifications queue", timeoutMs, "notifications");
