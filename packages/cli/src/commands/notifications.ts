import { type Command, Option } from "commander";
import { wholeNumber } from "../options.ts";
import { table } from "../output.ts";
import { signedInClient } from "../session.ts";
import { action } from "./action.ts";

export function registerNotificationCommands(program: Command): void {
  program
    .command("notifications")
    .description("Your notifications, newest first (documents ready, quarantined or failed; project events).")
    .option("--unread", "unread ones only")
    .option("--read-all", "then mark them all read")
    .addOption(new Option("-n, --limit <n>", "at most this many").argParser(wholeNumber(1, 100)).default(20))
    .action(
      action(async (context, options: { unread?: boolean; readAll?: boolean; limit: number }) => {
        const client = await signedInClient(context);
        const { data } = await client.api.GET("/notifications", {
          params: { query: { limit: options.limit, ...(options.unread ? { unread: "true" as const } : {}) } },
        });
        if (options.readAll) await client.api.POST("/notifications/read-all");
        context.output.result(data, () =>
          [
            table(
              ["", "WHEN", "TITLE"],
              data.data.map((n) => [n.read ? " " : "•", n.createdAt.replace("T", " ").slice(0, 16), n.title]),
            ) || "No notifications.",
            `${data.unreadCount} unread${options.readAll ? ", now all marked read" : ""}.`,
          ].join("\n"),
        );
      }),
    );
}
