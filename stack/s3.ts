import { type ChildProcess, fork } from "node:child_process";
import { mkdir } from "node:fs/promises";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { freeze, terminate, thaw } from "./child.ts";
import type { RoundTripMeter } from "./distance.ts";
import { freePort } from "./ports.ts";

export interface S3Options {
  /** Where clients reach S3: the proxy in front of s3rver. */
  port: number;
  directory: string;
  buckets: string[];
  /** Delays and counts every request as one round trip to "s3" (stack/distance.ts). */
  meter?: RoundTripMeter;
}

export interface S3Server {
  readonly endpoint: string;
  readonly port: number;
  /** s3rver's fixed credentials. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Freezes s3rver (SIGSTOP): connections are accepted and never answered, as a hung server. */
  pause(): Promise<void>;
  /** Lets a paused s3rver go on (SIGCONT). */
  resume(): Promise<void>;
  /** Stops s3rver and its proxy for good. */
  close(): Promise<void>;
}

const entry = fileURLToPath(new URL("./s3-server.ts", import.meta.url));

/**
 * An S3-compatible server (s3rver) with the buckets created at start, behind a proxy that stands
 * for the link to the storage region (see `startS3Proxy`). Clients need path-style addressing and
 * `requestChecksumCalculation`/`responseChecksumValidation` = "WHEN_REQUIRED". `stop`, `start`,
 * `pause` and `resume` act on s3rver; the proxy stays, as the network path to a failed S3 would.
 */
export async function startS3(options: S3Options): Promise<S3Server> {
  await mkdir(options.directory, { recursive: true });
  const backend = { port: await freePort(), directory: options.directory, buckets: options.buckets };
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const started = fork(entry, [JSON.stringify(backend)], {
      execArgv: ["--openssl-legacy-provider", "--no-warnings"],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    child = started;
    started.once("exit", () => {
      if (child === started) child = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      started.once("message", () => resolve());
      started.once("exit", (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    });
  }

  async function stop(): Promise<void> {
    const running = child;
    child = undefined;
    if (running) await terminate(running);
  }

  await start();
  const proxy = await startS3Proxy({ port: options.port, upstreamPort: backend.port, meter: options.meter });
  return {
    endpoint: `http://127.0.0.1:${options.port}`,
    port: options.port,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    start,
    stop,
    async close() {
      await proxy.close();
      await stop();
    },
    async pause() {
      freeze(child);
    },
    async resume() {
      thaw(child);
    },
  };
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and `expect`, which belong to one connection and are not
 * forwarded; SigV4 signs none of them, so signatures still verify behind the proxy.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
]);

/** `rawHeaders` without the hop-by-hop ones, as the flat [name, value, …] list Node accepts. */
function forwardable(rawHeaders: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? "";
    if (!HOP_BY_HOP.has(name.toLowerCase())) kept.push(name, rawHeaders[i + 1] ?? "");
  }
  return kept;
}

/**
 * A streaming reverse proxy: every request and response body is piped, never buffered, and the
 * request goes on with its own `Host` and every header SigV4 signs. Each request is one round trip
 * to "s3" on the meter, delayed by half the round-trip time on the way in and half on the way out.
 * When s3rver cannot be reached, or drops the connection midway, the client's connection is
 * dropped too, so the client sees the network failure it would see without the proxy.
 */
async function startS3Proxy(options: {
  port: number;
  upstreamPort: number;
  meter: RoundTripMeter | undefined;
}): Promise<{ close(): Promise<void> }> {
  // A connection per request to s3rver (loopback, cheap): a pooled keep-alive socket that s3rver
  // closes just as it is reused would look like a network failure to the client.
  const agent = new http.Agent({ keepAlive: false });
  const server = http.createServer((req, res) => {
    const end = options.meter?.begin("s3");
    res.once("close", () => end?.());
    const forward = () => {
      const upstream = http.request(
        {
          host: "127.0.0.1",
          port: options.upstreamPort,
          method: req.method,
          path: req.url,
          headers: forwardable(req.rawHeaders),
          agent,
        },
        (answer) => {
          const reply = () => {
            res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardable(answer.rawHeaders));
            answer.pipe(res);
            answer.once("error", () => res.destroy());
            answer.once("aborted", () => res.destroy());
          };
          if (options.meter && options.meter.rttMs > 0) void options.meter.halfTrip().then(reply);
          else reply();
        },
      );
      upstream.once("error", () => res.destroy());
      // The client went away before the answer was complete: stop the exchange with s3rver too.
      res.once("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      req.pipe(upstream);
    };
    if (options.meter && options.meter.rttMs > 0) {
      // Hold the request body until the first half trip is over; the socket applies backpressure.
      req.pause();
      void options.meter.halfTrip().then(forward);
    } else {
      forward();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
