export * from "./documents.ts";
export * from "./users.ts";
