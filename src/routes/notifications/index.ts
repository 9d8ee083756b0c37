import { createRouter } from "../../app/create-app.ts";
import { listOwnNotifications } from "./list.ts";
import { markNotificationsRead } from "./read.ts";

/** `/notifications`: the caller's in-app notifications, one file per endpoint (read one and all together). */
export const notificationsRouter = createRouter().route("/", listOwnNotifications).route("/", markNotificationsRead);
