import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { buildEvent, SystemPingSchema } from "../../src/pkg/queue/events.ts";
import worker from "../../workers/processor/index.ts";
import { deliver, eventually, testEnv } from "./helpers.ts";

/** One series' total across the aggregator's shards (the processor's tests host them: vitest.config.ts). */
async function total(sample: string, labels: Record<string, string>): Promise<number> {
  const wanted = JSON.stringify(Object.entries(labels));
  const shards = Array.from({ length: Number(testEnv.METRICS_SHARDS) }, (_, i) =>
    (
      testEnv.METRICS_AGGREGATOR as unknown as DurableObjectNamespace<
        import("../../src/durable-objects/metrics-aggregator.ts").MetricsAggregator
      >
    ).getByName(`shard-${i}`),
  );
  const stored = (await Promise.all(shards.map((shard) => shard.read()))).flat();
  return stored
    .filter((series) => series.sample === sample && series.labels === wanted)
    .reduce((sum, series) => (series.kind === "set" ? Math.max(sum, series.value) : sum + series.value), 0);
}

/** Waits until the series has grown by `by` from `before` (the flush runs after the batch). */
const grown = (sample: string, labels: Record<string, string>, before: number, by = 1) =>
  eventually(async () => {
    const now = await total(sample, labels);
    return now >= before + by ? now : undefined;
  });

const ping = () => buildEvent(SystemPingSchema, { type: "system.ping", requestId: "queue-metrics" });

describe("the processor's queue metrics", () => {
  it("count acked, dropped (malformed) and dead-lettered messages, and observe their age", async () => {
    // A queue name of this test's own (environments add suffixes; the processor routes by prefix),
    // so that no other test's messages are counted here.
    const queue = `document-events-metrics-${crypto.randomUUID().slice(0, 8)}`;
    const acked = { queue, outcome: "acked" };
    const dropped = { queue, outcome: "dropped" };
    const dead = { queue };
    const age = { queue };
    const before = {
      acked: await total("techcorp_queue_messages_total", acked),
      dropped: await total("techcorp_queue_messages_total", dropped),
      dead: await total("techcorp_queue_messages_dead_lettered_total", dead),
      age: await total("techcorp_queue_message_age_seconds_count", age),
    };
    vi.spyOn(console, "error").mockImplementation(() => {});
    await deliver(queue, [ping(), ping(), { type: "document.uploaded", documentId: "not-a-uuid" }]);
    // A ping's first delivery on the dead-letter queue: it ran out of retries on its source queue.
    await deliver(`${queue}-dlq`, [ping()]);
    // Its second delivery there is not a new dead letter.
    await deliver(`${queue}-dlq`, [ping()], {}, 2);
    await grown("techcorp_queue_messages_total", acked, before.acked, 2);
    await grown("techcorp_queue_messages_total", dropped, before.dropped, 1);
    await grown("techcorp_queue_message_age_seconds_count", age, before.age, 3);
    expect(await grown("techcorp_queue_messages_dead_lettered_total", dead, before.dead, 1)).toBe(before.dead + 1);
  });

  it("beat the processor's heartbeat on every cron run, the every-minute one included", async () => {
    const at = new Date(Date.now() + 7_200_000);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), testEnv, ctx);
    await waitOnExecutionContext(ctx);
    await grown("techcorp_heartbeat_timestamp_seconds", { worker: "processor" }, at.getTime() / 1000 - 1, 0);
  });
});
