export * from "./api-keys.ts";
export * from "./audit.ts";
export * from "./documents.ts";
export * from "./notifications.ts";
export * from "./projects.ts";
export * from "./search.ts";
export * from "./uploads.ts";
export * from "./users.ts";
