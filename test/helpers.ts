import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { asActor, SYSTEM, type Transaction } from "../src/db/actor.ts";
import { openDatabase } from "../src/db/client.ts";
import { loadApiConfig } from "../src/pkg/config/config.ts";
import { buildApp } from "../workers/api/app.ts";

export { captureLines } from "./console-lines.ts";
export { eventually } from "./eventually.ts";

/** Bindings the test configuration adds beside the worker's own (see vitest.config.ts). */
interface TestBindings {
  /** Bindings of a second stack whose services tests may stop (never the shared one). */
  OUTAGE_STACK: Record<string, string>;
  CONTROL_URL: string;
  /** The stack's OTLP receiver (stack/otlp-receiver.ts): where tests read the exported spans. */
  OTLP_RECEIVER_URL: string;
  /** The processor's setting, from the same stack: `required` when clamd runs, else `off`. */
  VIRUS_SCAN: string;
  /**
   * The shared stack's streaming replica (stack/postgres-replica.ts), for DATABASE_READ_URL where
   * a test turns the read routing on; the worker's own bindings leave it off.
   */
  STACK_REPLICA_URL: string;
}

export const testEnv = env as unknown as Env & TestBindings;

/** A request to the API worker through its real entry point (the `SELF` binding). */
export function api(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`http://api.test${path}`, init));
}

const app = buildApp();

/** A request to the same app with other bindings, e.g. pointing at the outage stack. */
export async function apiWith(bindings: Partial<Env> & object, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://api.test${path}`, init), { ...testEnv, ...bindings }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** The worker's bindings, re-pointed at the outage stack. */
export function outageBindings(): Partial<Env> {
  return testEnv.OUTAGE_STACK as Partial<Env>;
}

/** A user registered and signed in on the outage stack, through its own API: their auth headers. */
export async function outageUser(): Promise<Record<string, string>> {
  const bindings = outageBindings();
  const name = `outage-${crypto.randomUUID().slice(0, 10)}`;
  const password = "correct horse battery staple";
  const ip = { "cf-connecting-ip": `10.9.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` };
  const register = await apiWith(bindings, "/users", {
    method: "POST",
    headers: { "content-type": "application/json", ...ip },
    body: JSON.stringify({ email: `${name}@example.com`, username: name, password }),
  });
  if (register.status !== 201) throw new Error(`register: ${register.status} ${await register.text()}`);
  const token = await apiWith(bindings, "/auth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...ip },
    body: new URLSearchParams({ grant_type: "password", username: name, password }).toString(),
  });
  if (token.status !== 200) throw new Error(`login: ${token.status} ${await token.text()}`);
  const { access_token } = (await token.json()) as { access_token: string };
  return { authorization: `Bearer ${access_token}` };
}

/**
 * Stops or starts a real service of the outage stack, or freezes (`pause`, SIGSTOP) and thaws
 * (`resume`) one.
 */
export async function outage(
  ...[service, action]:
    | ["postgres" | "redis" | "s3", "stop" | "start"]
    | ["postgres" | "redis" | "s3" | "clamd", "pause" | "resume"]
): Promise<void> {
  const res = await fetch(`${testEnv.CONTROL_URL}/outage/${service}/${action}`, { method: "POST" });
  if (res.status !== 204) throw new Error(`could not ${action} ${service}: ${res.status} ${await res.text()}`);
}

/**
 * Drives the shared stack's streaming replica: stops and starts it, pauses its replay (so its reads
 * fall behind) and resumes it, or waits until it has replayed everything written so far.
 */
export async function replica(action: "stop" | "start" | "pause-replay" | "resume-replay" | "catch-up"): Promise<void> {
  const res = await fetch(`${testEnv.CONTROL_URL}/replica/${action}`, { method: "POST" });
  if (res.status !== 204) throw new Error(`could not ${action} the replica: ${res.status} ${await res.text()}`);
}

export interface ProblemJson {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId: string;
  errors?: { in: string; pointer: string; message: string }[];
}

/** Asserts the RFC 9457 shape every error of this API has, and returns the body. */
export async function expectProblem(res: Response, status: number): Promise<ProblemJson> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  if (res.headers.get("content-type") !== "application/problem+json") {
    throw new Error(`expected application/problem+json, got ${res.headers.get("content-type")}`);
  }
  const body = JSON.parse(text) as ProblemJson;
  for (const field of ["type", "title", "detail", "instance", "requestId"] as const) {
    if (typeof body[field] !== "string" || body[field] === "") throw new Error(`problem without ${field}: ${text}`);
  }
  if (body.status !== status) throw new Error(`problem status ${body.status} != ${status}`);
  if (body.requestId !== res.headers.get("x-request-id"))
    throw new Error("problem requestId differs from X-Request-ID");
  if (/\bat \S+ \(|\.ts:\d+|\.js:\d+/.test(text)) throw new Error(`problem leaks a stack trace: ${text}`);
  return body;
}

/** Runs `work` as the system on the shared stack's database (row-level security applies). */
export async function asSystem<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
  const handle = openDatabase(loadApiConfig(testEnv).database);
  try {
    return await asActor(handle.db, SYSTEM, work);
  } finally {
    await handle.close();
  }
}
