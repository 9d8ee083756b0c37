import type { components } from "@techcorp/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";
import { formatInstant } from "../components/format.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { client } from "../session/session.ts";
import { refreshUnread } from "../session/unread.ts";

type Notification = components["schemas"]["Notification"];

/** The document a notification is about, when it is about one. */
const documentOf = (notification: Notification) =>
  typeof notification.data.documentId === "string" ? notification.data.documentId : undefined;

/** Notifications, newest first: unread ones marked, each opened marks it read; "Mark all read". */
export function Inbox() {
  const [notifications, setNotifications] = useState<Notification[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loaded, setLoaded] = useState(false);

  const load = useCallback(async (after?: string) => {
    setError(undefined);
    try {
      const { data } = await client.api.GET("/notifications", {
        params: { query: { limit: 25, ...(after ? { cursor: after } : {}) } },
      });
      setNotifications((shown) => (after ? [...shown, ...data.data] : data.data));
      setCursor(data.nextCursor);
    } catch (caught) {
      setError(caught);
    } finally {
      setLoaded(true);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const markRead = async (notification: Notification) => {
    if (notification.read) return;
    await client.api
      .POST("/notifications/{id}/read", { params: { path: { id: notification.id } } })
      .catch((caught: unknown) => setError(caught));
    await refreshUnread();
  };

  const markAllRead = async () => {
    try {
      await client.api.POST("/notifications/read-all");
      await Promise.all([load(), refreshUnread()]);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <>
      <h1>Inbox</h1>
      <button type="button" class="secondary" onClick={markAllRead} disabled={!notifications.some((n) => !n.read)}>
        Mark all read
      </button>
      <ProblemMessage error={error} />
      {loaded && notifications.length === 0 ? <p>No notifications yet.</p> : null}
      <ul class="notifications">
        {notifications.map((notification) => {
          const documentId = documentOf(notification);
          return (
            <li key={notification.id} class={notification.read ? "read" : "unread"}>
              {notification.read ? null : <span class="visually-hidden">Unread: </span>}
              {documentId ? (
                <a href={`/library/${documentId}`} onClick={() => markRead(notification)}>
                  {notification.title}
                </a>
              ) : (
                <strong>{notification.title}</strong>
              )}
              <p>{notification.body}</p>
              <p class="muted">{formatInstant(notification.createdAt)}</p>
            </li>
          );
        })}
      </ul>
      {cursor ? (
        <button type="button" class="secondary" onClick={() => load(cursor)}>
          Older notifications
        </button>
      ) : null}
    </>
  );
}
