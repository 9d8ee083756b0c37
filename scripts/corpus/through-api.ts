// Loading through the normal write path: each corpus user registers and signs in, each document is
// uploaded with POST /documents (and then scanned, extracted and indexed by the processor) and
// shared with PUT /documents/{id}/shares. Uses only fetch, so it runs from Node against a running
// API or inside the Workers test runtime. Creation dates are the upload's (not the corpus's), and
// each run adds the documents again (the server chooses ids).
import { type CorpusDocument, type CorpusOptions, corpusDocuments, corpusUsers } from "./generate.ts";

export type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

export interface ApiLoadOptions extends CorpusOptions {
  fetch: Fetcher;
  password: string;
  /** Uploads in flight at once. */
  concurrency?: number;
  onProgress?: (loaded: number, total: number) => void;
  /**
   * The local stack's mail inbox (its `MAIL_INBOX_URL`): each user whose address is not verified
   * follows the verification link mailed to it, as a person would, since an unverified account
   * cannot share documents. Without it, such users' shares are refused (403).
   */
  inboxUrl?: string;
}

export interface ApiLoadResult {
  /** Created document ids, in corpus order. */
  documentIds: string[];
  users: { username: string; id: string }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a request again while the API says to wait (429 with Retry-After) or is briefly unavailable. */
async function send(fetcher: Fetcher, path: string, init: () => RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetcher(path, init());
    if ((res.status !== 429 && res.status !== 503) || attempt >= 20) return res;
    const wait = Number(res.headers.get("retry-after") ?? 1);
    await res.body?.cancel();
    await sleep(Math.min(Number.isFinite(wait) ? wait : 1, 30) * 1000);
  }
}

async function expectStatus(res: Response, statuses: number[], what: string): Promise<Response> {
  if (!statuses.includes(res.status)) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res;
}

interface Session {
  id: string;
  /** A request with the user's token; signs in again once if the token expired meanwhile. */
  request(path: string, init: RequestInit): Promise<Response>;
}

const VERIFICATION_SUBJECT = "Confirm your email address";

/**
 * Follows the newest verification link in `email`'s inbox (POST /auth/email-verification with its
 * token), asking for a new link once if none came within a few seconds.
 */
async function verifyThroughInbox(
  fetcher: Fetcher,
  inboxUrl: string,
  email: string,
  resend: () => Promise<void>,
): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    if (attempt === 25) await resend();
    const res = await fetch(`${inboxUrl}/api/messages?to=${encodeURIComponent(email)}`);
    const mails = (await res.json()) as { subject: string; text: string }[];
    const token = mails
      .find((mail) => mail.subject === VERIFICATION_SUBJECT)
      ?.text.match(/#token=([A-Za-z0-9_-]+)/)?.[1];
    if (token) {
      const confirmed = await send(fetcher, "/auth/email-verification", () => ({
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token }),
      }));
      await expectStatus(confirmed, [200], `verifying ${email}`);
      await confirmed.body?.cancel();
      return;
    }
    await sleep(200);
  }
  throw new Error(`no verification mail reached ${email}`);
}

/** Registers the user (unless they exist), signs in, and verifies the address through `inboxUrl` if given. */
async function signIn(
  fetcher: Fetcher,
  user: { username: string; email: string },
  password: string,
  inboxUrl?: string,
): Promise<Session> {
  const registered = await send(fetcher, "/users", () => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: user.email, username: user.username, password }),
  }));
  await expectStatus(registered, [201, 409], `registering ${user.username}`);
  await registered.body?.cancel();
  const login = async () => {
    const res = await send(fetcher, "/auth/token", () => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: user.username, password }).toString(),
    }));
    await expectStatus(res, [200], `signing in ${user.username}`);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  let token = await login();
  const me = await expectStatus(
    await fetcher("/users/me", { headers: { authorization: `Bearer ${token}` } }),
    [200],
    "GET /users/me",
  );
  const { id, emailVerified } = (await me.json()) as { id: string; emailVerified: boolean };
  if (!emailVerified && inboxUrl) {
    await verifyThroughInbox(fetcher, inboxUrl, user.email, async () => {
      const res = await fetcher("/users/me/email-verification", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
      await res.body?.cancel();
    });
  }
  return {
    id,
    async request(path: string, init: RequestInit): Promise<Response> {
      const withToken = () => ({
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
      });
      const res = await send(fetcher, path, withToken);
      if (res.status !== 401) return res;
      await res.body?.cancel();
      token = await login();
      return send(fetcher, path, withToken);
    },
  };
}

export async function loadThroughApi(options: ApiLoadOptions): Promise<ApiLoadResult> {
  const users = corpusUsers(options);
  const sessions: Session[] = [];
  for (const user of users) sessions.push(await signIn(options.fetch, user, options.password, options.inboxUrl));

  const upload = async (doc: CorpusDocument): Promise<string> => {
    const owner = sessions[doc.ownerIndex];
    if (!owner) throw new Error(`no session for user ${doc.ownerIndex}`);
    const query = new URLSearchParams({ title: doc.title, tags: doc.tags.join(",") });
    const body = new TextEncoder().encode(doc.body);
    const res = await owner.request(`/documents?${query}`, {
      method: "POST",
      headers: { "content-type": `${doc.contentType}; charset=utf-8`, "content-length": String(body.byteLength) },
      body,
    });
    await expectStatus(res, [201], `uploading document ${doc.index}`);
    const { id } = (await res.json()) as { id: string };
    for (const share of doc.shares) {
      const target = users[share.userIndex];
      if (!target) continue;
      const shared = await owner.request(`/documents/${id}/shares`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: target.username, access: share.access }),
      });
      await expectStatus(shared, [200, 201], `sharing document ${doc.index}`);
      await shared.body?.cancel();
    }
    return id;
  };

  const documentIds: string[] = [];
  const docs = corpusDocuments(options);
  let loaded = 0;
  const worker = async () => {
    for (let next = docs.next(); !next.done; next = docs.next()) {
      const doc = next.value;
      documentIds[doc.index] = await upload(doc);
      loaded++;
      options.onProgress?.(loaded, options.count);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return { documentIds, users: users.map((u, i) => ({ username: u.username, id: sessions[i]?.id ?? "" })) };
}
