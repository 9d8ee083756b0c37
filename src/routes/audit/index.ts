import { createRouter } from "../../app/create-app.ts";
import { listAuditEvents } from "./list.ts";

/** `/audit`: the audit log of security events, for administrators. */
export const auditRouter = createRouter().route("/", listAuditEvents);
