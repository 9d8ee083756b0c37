import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { markAllRead, markRead } from "../../db/queries/notifications.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { NotificationIdParams, NotificationSchema, ReadAllSchema, toNotificationJson } from "./schemas.ts";

const readAllRoute = protectedRoute("caller", {
  method: "post",
  path: "/notifications/read-all",
  tags: ["Notifications"],
  summary: "Mark every notification read",
  responses: { 200: jsonResponse("How many changed.", ReadAllSchema), ...problemResponses(503) },
});

const readAllNotifications = createRouter().openapi(readAllRoute, async (c) => {
  const { userId } = callerOf(c);
  return c.json({ updated: await asCaller(c).transaction((tx) => markAllRead(tx, { userId })) }, 200);
});

const readRoute = protectedRoute("caller", {
  method: "post",
  path: "/notifications/{id}/read",
  tags: ["Notifications"],
  summary: "Mark a notification read",
  request: { params: NotificationIdParams },
  responses: { 200: jsonResponse("The notification.", NotificationSchema), ...problemResponses(400, 404, 503) },
});

const readNotification = createRouter().openapi(readRoute, async (c) => {
  const { id } = c.req.valid("param");
  const { userId } = callerOf(c);
  const row = await asCaller(c).transaction((tx) => markRead(tx, { userId, id }));
  if (!row) throw new ApiError("not_found", { detail: `No notification ${id}.` });
  return c.json(toNotificationJson(row), 200);
});

/** `POST /notifications/read-all` and `POST /notifications/{id}/read`, in that order. */
export const markNotificationsRead = createRouter().route("/", readAllNotifications).route("/", readNotification);
