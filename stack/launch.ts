import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { terminate } from "./child.ts";

export interface LaunchOptions {
  dataDir: string;
  /** Where the API answers, for issued tokens and OAuth redirects. */
  publicUrl?: string;
  redis: "optional" | "required";
  /** Also start a second stack that tests may take down, and the control server for it. */
  outage: boolean;
  /**
   * Also start a streaming replica of the stack's Postgres, named by the bindings as
   * STACK_REPLICA_URL (DATABASE_READ_URL stays empty) and driven through the control server.
   */
  readReplica?: boolean;
  /** Round-trip time to the data services in ms (STACK_RTT_MS; 0 = none); changeable at run time through `meterUrl`. */
  rttMs?: number;
}

export type LaunchReport =
  | {
      type: "ready";
      env: Record<string, string>;
      outageEnv?: Record<string, string>;
      controlUrl?: string;
      meterUrl?: string;
    }
  | { type: "error"; message: string };

export interface LaunchedStack {
  env: Record<string, string>;
  outageEnv: Record<string, string> | undefined;
  controlUrl: string | undefined;
  /**
   * The round-trip meter of the stack's proxies over HTTP (stack/distance.ts,
   * `startRoundTripServer`): `GET /round-trips`, `POST /round-trips/reset`, `PUT /round-trips/rtt`.
   */
  meterUrl: string;
  stop(): Promise<void>;
}

const entry = fileURLToPath(new URL("./serve.ts", import.meta.url));

/** Starts a throwaway stack in a child process (stack/serve.ts) and returns its bindings. */
export function launchStack(options: LaunchOptions): Promise<LaunchedStack> {
  const child = fork(entry, [JSON.stringify(options)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const stop = () => terminate(child);
  return new Promise((resolve, reject) => {
    child.once("message", (message: LaunchReport) => {
      if (message.type === "error") {
        void stop().then(() => reject(new Error(message.message)));
        return;
      }
      resolve({
        env: message.env,
        outageEnv: message.outageEnv,
        controlUrl: message.controlUrl,
        meterUrl: message.meterUrl ?? "",
        stop,
      });
    });
    child.once("close", () =>
      reject(new Error("the local stack did not start; its reason is in the [stack] line above")),
    );
  });
}
