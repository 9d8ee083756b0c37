import type { Command } from "commander";
import type { GlobalOptions } from "../main.ts";
import { createOutput } from "../output.ts";
import { type CommandContext, contextFor } from "../session.ts";

/** Where `run` finds the exit code a command ended with (errors aside). */
export const EXIT_CODE = Symbol("exitCode");

/**
 * A commander action with the command's context: output per `--json`, the API address, the config
 * directory, an AbortSignal for Ctrl-C. The command's exit code is left on the program for `run`.
 */
export function action<Options, Args extends unknown[] = []>(
  body: (context: CommandContext, options: Options, ...args: Args) => Promise<void>,
) {
  return async function (this: Command, ...received: unknown[]) {
    const globals = this.optsWithGlobals<GlobalOptions>();
    const controller = new AbortController();
    const interrupt = () => controller.abort(new DOMException("interrupted", "AbortError"));
    process.once("SIGINT", interrupt);
    const context = contextFor(createOutput({ json: globals.json }), globals.apiUrl, controller.signal);
    try {
      // commander passes the arguments, then the options, then the command.
      const args = received.slice(0, -2) as Args;
      const options = received.at(-2) as Options;
      await body(context, options, ...args);
    } finally {
      process.off("SIGINT", interrupt);
      let root: Command = this;
      while (root.parent) root = root.parent;
      (root as Command & { [EXIT_CODE]?: number })[EXIT_CODE] = context.exitCode;
    }
  };
}
