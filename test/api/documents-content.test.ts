import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import {
  ALPHABET,
  bodyBytes,
  created,
  formUpload,
  processed,
  rawUpload,
  readyText,
  text,
} from "../document-helpers.ts";
import { EICAR } from "../fixtures/files.ts";
import { api, asSystem, expectProblem } from "../helpers.ts";

describe("GET /documents/{id}/content", () => {
  it("streams the file with its type, length, disposition and ETag", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth, ALPHABET, "récit.txt");
    const res = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("content-length")).toBe("1040");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toBe(`"${doc.sha256}"`);
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename="r_cit.txt"; filename*=UTF-8''r%C3%A9cit.txt`,
    );
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(text(await bodyBytes(res))).toBe(ALPHABET);

    const inline = await api(`/documents/${doc.id}/content?disposition=inline`, { headers: auth });
    expect(inline.headers.get("content-disposition")).toMatch(/^inline;/);
    await inline.body?.cancel();
  });

  it("never renders HTML inline in our origin", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "<h1>hi</h1><script>alert(1)</script>", "text/html", { title: "page" }));
    await processed(auth, doc.id);
    const res = await api(`/documents/${doc.id}/content?disposition=inline`, { headers: auth });
    expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
    await res.body?.cancel();
  });

  it("serves byte ranges (206), suffixes and open ends, and 416 outside the file", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const range = async (header: string) =>
      api(`/documents/${doc.id}/content`, { headers: { ...auth, range: header } });

    const first = await range("bytes=0-9");
    expect(first.status).toBe(206);
    expect(first.headers.get("content-range")).toBe("bytes 0-9/1040");
    expect(first.headers.get("content-length")).toBe("10");
    expect(text(await bodyBytes(first))).toBe("abcdefghij");

    const middle = await range("bytes=26-28");
    expect(text(await bodyBytes(middle))).toBe("abc");

    const open = await range("bytes=1035-");
    expect(open.headers.get("content-range")).toBe("bytes 1035-1039/1040");
    expect(text(await bodyBytes(open))).toBe("vwxyz");

    const suffix = await range("bytes=-3");
    expect(suffix.headers.get("content-range")).toBe("bytes 1037-1039/1040");
    expect(text(await bodyBytes(suffix))).toBe("xyz");

    const beyond = await expectProblem(await range("bytes=2000-3000"), 416);
    expect(beyond.type).toBe("/problems/range_not_satisfiable");
    // Several ranges, or nonsense: the whole file (RFC 9110 allows ignoring Range).
    const whole = await range("bytes=0-1,5-6");
    expect(whole.status).toBe(200);
    await whole.body?.cancel();
  });

  it("answers 304 to a matching If-None-Match", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const res = await api(`/documents/${doc.id}/content`, { headers: { ...auth, "if-none-match": `"${doc.sha256}"` } });
    expect(res.status).toBe(304);
    expect(await res.text()).toBe("");
  });

  it("compares If-None-Match weakly over the whole list, * included (RFC 9110 §13.1.2)", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const etag = `"${doc.sha256}"`;
    const status = async (ifNoneMatch: string) => {
      const res = await api(`/documents/${doc.id}/content`, { headers: { ...auth, "if-none-match": ifNoneMatch } });
      await res.body?.cancel();
      return res.status;
    };
    expect(await status(`"a", ${etag}`)).toBe(304);
    expect(await status(`"a",${etag} , "b"`)).toBe(304);
    expect(await status(`W/${etag}`)).toBe(304);
    expect(await status("*")).toBe(304);
    expect(await status(`"a", W/"b"`)).toBe(200);
    expect(await status(doc.sha256)).toBe(200);
  });

  it("sends Last-Modified, and 304 carries the validators and caching headers a 200 would", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const full = await api(`/documents/${doc.id}/content`, { headers: auth });
    await full.body?.cancel();
    const lastModified = full.headers.get("last-modified") ?? "";
    expect(new Date(lastModified).toUTCString()).toBe(lastModified);
    expect(Date.parse(lastModified)).toBe(Math.floor(Date.parse(doc.createdAt) / 1000) * 1000);
    const notModified = await api(`/documents/${doc.id}/content`, {
      headers: { ...auth, "if-none-match": `"${doc.sha256}"` },
    });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe(`"${doc.sha256}"`);
    expect(notModified.headers.get("last-modified")).toBe(lastModified);
    expect(notModified.headers.get("cache-control")).toBe(full.headers.get("cache-control"));
  });

  it("evaluates If-Modified-Since only without If-None-Match, and ignores an invalid date", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const created = Date.parse(doc.createdAt);
    const status = async (headers: Record<string, string>) => {
      const res = await api(`/documents/${doc.id}/content`, { headers: { ...auth, ...headers } });
      await res.body?.cancel();
      return res.status;
    };
    const at = (ms: number) => new Date(ms).toUTCString();
    expect(await status({ "if-modified-since": at(created) })).toBe(304);
    expect(await status({ "if-modified-since": at(created + 60_000) })).toBe(304);
    expect(await status({ "if-modified-since": at(created - 60_000) })).toBe(200);
    // The obsolete formats a recipient must still read (RFC 9110 §5.6.7).
    const later = new Date(created + 60_000);
    const rfc850 = at(later.getTime()).replace(
      /^(\w{3}), (\d\d) (\w{3}) \d\d(\d\d)/,
      (_, day: string, dd: string, mon: string, yy: string) => {
        const names: Record<string, string> = {
          Mon: "Monday",
          Tue: "Tuesday",
          Wed: "Wednesday",
          Thu: "Thursday",
          Fri: "Friday",
          Sat: "Saturday",
          Sun: "Sunday",
        };
        return `${names[day]}, ${dd}-${mon}-${yy}`;
      },
    );
    expect(await status({ "if-modified-since": rfc850 })).toBe(304);
    expect(await status({ "if-modified-since": "not a date" })).toBe(200);
    expect(await status({ "if-modified-since": "2" })).toBe(200);
    // If-None-Match wins: a different tag means the representation changed, whatever the date says.
    expect(await status({ "if-none-match": '"other"', "if-modified-since": at(created + 60_000) })).toBe(200);
  });

  it("answers 412 to a failing If-Match or If-Unmodified-Since, in the order of RFC 9110 §13.2.2", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const etag = `"${doc.sha256}"`;
    const created = Date.parse(doc.createdAt);
    const at = (ms: number) => new Date(ms).toUTCString();
    const status = async (headers: Record<string, string>) => {
      const res = await api(`/documents/${doc.id}/content`, { headers: { ...auth, ...headers } });
      if (res.status === 412) {
        const problem = await expectProblem(res, 412);
        expect(problem.type).toBe("/problems/precondition_failed");
      } else await res.body?.cancel();
      return res.status;
    };
    expect(await status({ "if-match": '"other"' })).toBe(412);
    // If-Match uses the strong comparison: a weak tag never matches.
    expect(await status({ "if-match": `W/${etag}` })).toBe(412);
    expect(await status({ "if-match": `"other", ${etag}` })).toBe(200);
    expect(await status({ "if-match": "*" })).toBe(200);
    expect(await status({ "if-unmodified-since": at(created - 60_000) })).toBe(412);
    expect(await status({ "if-unmodified-since": at(created + 60_000) })).toBe(200);
    expect(await status({ "if-unmodified-since": "yesterday" })).toBe(200);
    // If-Match is evaluated first, and when present If-Unmodified-Since is not.
    expect(await status({ "if-match": etag, "if-unmodified-since": at(created - 60_000) })).toBe(200);
    expect(await status({ "if-match": '"other"', "if-none-match": etag })).toBe(412);
    // If-None-Match matching "*" or a tag on a GET is a 304, not a 412.
    expect(await status({ "if-match": etag, "if-none-match": "*" })).toBe(304);
  });

  it("resumes with If-Range: the range only while the ETag (strongly) or the exact date still holds", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const etag = `"${doc.sha256}"`;
    const first = await api(`/documents/${doc.id}/content`, { headers: auth });
    await first.body?.cancel();
    const lastModified = first.headers.get("last-modified") ?? "";
    const resume = async (ifRange: string) => {
      const res = await api(`/documents/${doc.id}/content`, {
        headers: { ...auth, range: "bytes=1030-", "if-range": ifRange },
      });
      return { status: res.status, body: text(await bodyBytes(res)) };
    };
    // A browser resuming with the ETag, or with the date.
    expect(await resume(etag)).toEqual({ status: 206, body: "qrstuvwxyz" });
    expect(await resume(lastModified)).toEqual({ status: 206, body: "qrstuvwxyz" });
    // Anything else sends the whole, current representation.
    expect(await resume('"other"')).toEqual({ status: 200, body: ALPHABET });
    expect(await resume(`W/${etag}`)).toEqual({ status: 200, body: ALPHABET });
    expect(await resume(new Date(Date.parse(lastModified) - 1000).toUTCString())).toEqual({
      status: 200,
      body: ALPHABET,
    });
    expect(await resume("garbage")).toEqual({ status: 200, body: ALPHABET });
    // curl -C - and wget -c send Range alone.
    const plain = await api(`/documents/${doc.id}/content`, { headers: { ...auth, range: "bytes=1030-" } });
    expect(plain.status).toBe(206);
    await plain.body?.cancel();
    // The range unit is case-insensitive (RFC 9110 §14.1).
    const upper = await api(`/documents/${doc.id}/content`, { headers: { ...auth, range: "Bytes=0-2" } });
    expect(upper.status).toBe(206);
    expect(text(await bodyBytes(upper))).toBe("abc");
  });

  it("does not resume a range by date when the current version changed within that second", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    await created(
      formUpload(
        auth,
        { bytes: ALPHABET.toUpperCase(), type: "text/plain", name: "u.txt" },
        {},
        `/documents/${doc.id}/versions`,
      ),
    );
    await processed(auth, doc.id);
    const resumeByDate = async (secondsAfterFirst: number) => {
      // Version 2 made `secondsAfterFirst` seconds after version 1 (0: within the same second).
      await asSystem((tx) =>
        tx.execute(
          sql`update document_versions set created_at = (select created_at from document_versions where document_id = ${doc.id} and version = 1) + make_interval(secs => ${secondsAfterFirst}) where document_id = ${doc.id} and version = 2`,
        ),
      );
      const res = await api(`/documents/${doc.id}/content`, { headers: auth });
      await res.body?.cancel();
      const resumed = await api(`/documents/${doc.id}/content`, {
        headers: { ...auth, range: "bytes=0-2", "if-range": res.headers.get("last-modified") ?? "" },
      });
      await resumed.body?.cancel();
      return resumed.status;
    };
    // A client holding version 1 could send the same date: the date is not a strong validator then.
    expect(await resumeByDate(0)).toBe(200);
    expect(await resumeByDate(5)).toBe(206);
    // An explicit version never changes: its date is always strong.
    const first = await api(`/documents/${doc.id}/content?version=1`, { headers: auth });
    await first.body?.cancel();
    const v1 = await api(`/documents/${doc.id}/content?version=1`, {
      headers: { ...auth, range: "bytes=0-2", "if-range": first.headers.get("last-modified") ?? "" },
    });
    expect(v1.status).toBe(206);
    expect(text(await bodyBytes(v1))).toBe("abc");
  });

  it("answers HEAD with the headers of GET and no body, conditions included", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth);
    const head = await api(`/documents/${doc.id}/content`, { method: "HEAD", headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1040");
    expect(head.headers.get("etag")).toBe(`"${doc.sha256}"`);
    expect(await head.text()).toBe("");
    const cached = await api(`/documents/${doc.id}/content`, {
      method: "HEAD",
      headers: { ...auth, "if-none-match": `W/"${doc.sha256}"` },
    });
    expect(cached.status).toBe(304);
    const failed = await api(`/documents/${doc.id}/content`, {
      method: "HEAD",
      headers: { ...auth, "if-match": '"other"' },
    });
    expect(failed.status).toBe(412);
  });

  it("labels stored text with charset=utf-8 (RFC 7763 requires it for Markdown)", async () => {
    const { auth } = await signedIn();
    for (const [type, body] of [
      ["text/plain", "plain ☃"],
      ["text/markdown", "# Title ☃"],
      ["text/csv", "a,☃\n"],
      ["text/html", "<p>☃</p>"],
    ] as const) {
      const doc = await created(rawUpload(auth, body, type, { title: type }));
      await processed(auth, doc.id);
      const res = await api(`/documents/${doc.id}/content`, { headers: auth });
      expect(res.headers.get("content-type"), type).toBe(`${type}; charset=utf-8`);
      expect(text(await bodyBytes(res))).toBe(body);
    }
  });

  it("percent-encodes every character outside attr-char in filename* (RFC 8187 §3.2.1)", async () => {
    const { auth } = await signedIn();
    const doc = await readyText(auth, ALPHABET, "it's (final)*!.txt");
    const res = await api(`/documents/${doc.id}/content`, { headers: auth });
    await res.body?.cancel();
    const disposition = res.headers.get("content-disposition") ?? "";
    expect(disposition).toBe(
      `attachment; filename="it's (final)*!.txt"; filename*=UTF-8''it%27s%20%28final%29%2A!.txt`,
    );
    const extended = /filename\*=UTF-8''(.*)$/.exec(disposition)?.[1] ?? "";
    expect(extended).toMatch(/^(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+$/);
  });

  it("refuses quarantined content for good", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, EICAR, "text/plain", { title: "eicar" }));
    expect((await processed(auth, doc.id)).status).toBe("quarantined");
    const problem = await expectProblem(await api(`/documents/${doc.id}/content`, { headers: auth }), 409);
    expect(problem.detail).toMatch(/quarantined/);
    const restore = await expectProblem(
      await api(`/documents/${doc.id}/versions/1/restore`, { method: "POST", headers: auth }),
      409,
    );
    expect(restore.detail).toMatch(/quarantined/);
  });
});
