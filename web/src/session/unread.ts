import { signal } from "@preact/signals";
import { client } from "./session.ts";

/** Unread notifications of the signed-in user, for the header's badge; refreshed by `refreshUnread`. */
export const unreadCount = signal(0);

/** Reads the unread count (one `GET /notifications?unread=true&limit=1`); failures leave it as it was. */
export async function refreshUnread(): Promise<void> {
  try {
    const { data } = await client.api.GET("/notifications", { params: { query: { unread: "true", limit: 1 } } });
    unreadCount.value = data.unreadCount;
  } catch {
    // The badge is a hint: the next poll tries again.
  }
}
