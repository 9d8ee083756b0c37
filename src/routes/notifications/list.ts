import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { notificationsPage, selectNotificationsPage, selectUnreadCount } from "../../db/queries/notifications.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ListNotificationsQuery, NotificationPageSchema, toNotificationJson } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/notifications",
  tags: ["Notifications"],
  summary: "My notifications, newest first",
  description:
    "In-app notifications (document ready, quarantined, failed). Keyset-paginated; `unread=true` for unread only.",
  request: { query: ListNotificationsQuery },
  responses: { 200: jsonResponse("A page.", NotificationPageSchema), ...problemResponses(400, 503) },
});

export const listOwnNotifications = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  const after = cursorParam(query.cursor);
  const { userId } = callerOf(c);
  // The page and the count in one HTTP round trip, one snapshot apart at most.
  const [rows, unread] = await asCaller(c).read((db) => [
    selectNotificationsPage(db, { userId, limit: query.limit, unreadOnly: query.unread, after }),
    selectUnreadCount(db, { userId }),
  ]);
  const { page, nextCursor } = pageOf(notificationsPage(rows), query.limit);
  return c.json({ data: page.map(toNotificationJson), nextCursor, unreadCount: firstRow(unread)?.count ?? 0 }, 200);
});
