import { PhotonImage } from "@cf-wasm/photon";
import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import {
  bodyBytes,
  created,
  type DocumentJson,
  formUpload,
  processed,
  rawUpload,
  readyText,
  type VersionJson,
} from "../document-helpers.ts";
import { png } from "../fixtures/files.ts";
import { api, expectProblem } from "../helpers.ts";

describe("versions", () => {
  it("uploads new versions, lists them, serves any, and restores an old one as a new version", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, "first draft", "text/plain", { title: "essay" }));
    await processed(auth, doc.id);
    const second = await created(
      rawUpload(auth, "second draft", "text/plain", {
        path: `/documents/${doc.id}/versions`,
        title: "essay v2",
        tags: "final",
      }),
    );
    expect(second).toMatchObject({
      id: doc.id,
      currentVersion: 2,
      title: "essay v2",
      tags: ["final"],
      status: "pending",
    });
    await processed(auth, doc.id);

    const list = (await (await api(`/documents/${doc.id}/versions`, { headers: auth })).json()) as {
      data: VersionJson[];
    };
    expect(list.data.map((v) => [v.version, v.status, v.sizeBytes])).toEqual([
      [2, "ready", 12],
      [1, "ready", 11],
    ]);
    const current = await api(`/documents/${doc.id}/content`, { headers: auth });
    expect(await current.text()).toBe("second draft");
    const old = await api(`/documents/${doc.id}/content?version=1`, { headers: auth });
    expect(await old.text()).toBe("first draft");

    const restoreRes = await api(`/documents/${doc.id}/versions/1/restore`, { method: "POST", headers: auth });
    expect(restoreRes.status).toBe(201);
    const restored = (await restoreRes.json()) as DocumentJson;
    expect(restored).toMatchObject({ currentVersion: 3, sha256: doc.sha256, sizeBytes: 11 });
    expect((await processed(auth, doc.id)).status).toBe("ready");
    expect(await (await api(`/documents/${doc.id}/content`, { headers: auth })).text()).toBe("first draft");
    const after = (await (await api(`/documents/${doc.id}/versions`, { headers: auth })).json()) as {
      data: VersionJson[];
    };
    expect(after.data[0]).toMatchObject({ version: 3, restoredFrom: 1 });
    // Version 2 is still there, unchanged.
    expect(await (await api(`/documents/${doc.id}/content?version=2`, { headers: auth })).text()).toBe("second draft");

    await expectProblem(await api(`/documents/${doc.id}/content?version=9`, { headers: auth }), 404);
    await expectProblem(await api(`/documents/${doc.id}/versions/9/restore`, { method: "POST", headers: auth }), 404);
  });

  it("gives each version its own thumbnail", async () => {
    const { auth } = await signedIn();
    const doc = await created(formUpload(auth, { bytes: png(400, 100), type: "image/png", name: "wide.png" }));
    await processed(auth, doc.id);
    await created(
      formUpload(
        auth,
        { bytes: png(100, 400), type: "image/png", name: "tall.png" },
        {},
        `/documents/${doc.id}/versions`,
      ),
    );
    await processed(auth, doc.id);
    const size = async (query: string) => {
      const res = await api(`/documents/${doc.id}/thumbnail${query}`, { headers: auth });
      expect(res.status).toBe(200);
      const image = PhotonImage.new_from_byteslice(await bodyBytes(res));
      const dims = [image.get_width(), image.get_height()];
      image.free();
      return dims;
    };
    expect(await size("")).toEqual([64, 256]);
    expect(await size("?version=1")).toEqual([256, 64]);
    // Conditional requests work on thumbnails too, per version.
    const thumb = await api(`/documents/${doc.id}/thumbnail`, { headers: auth });
    await thumb.body?.cancel();
    const etag = thumb.headers.get("etag") ?? "";
    expect(etag).not.toBe("");
    expect(thumb.headers.get("last-modified")).toBeTruthy();
    const unchanged = await api(`/documents/${doc.id}/thumbnail`, { headers: { ...auth, "if-none-match": etag } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get("etag")).toBe(etag);
    const older = await api(`/documents/${doc.id}/thumbnail?version=1`, {
      headers: { ...auth, "if-none-match": etag },
    });
    expect(older.status).toBe(200);
    await older.body?.cancel();
    await expectProblem(
      await api(`/documents/${doc.id}/thumbnail`, { headers: { ...auth, "if-match": '"something else"' } }),
      412,
    );
    const textDoc = await readyText(auth);
    await expectProblem(await api(`/documents/${textDoc.id}/thumbnail`, { headers: auth }), 404);
  });
});
