export * from "./documents.ts";
export * from "./notifications.ts";
export * from "./users.ts";
