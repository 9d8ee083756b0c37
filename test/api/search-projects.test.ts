import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { created, type DocumentJson, formUpload, processed } from "../document-helpers.ts";
import { api, expectProblem } from "../helpers.ts";
import {
  type Auth,
  createProject,
  expectJson,
  memberOf,
  removeMember,
  send,
  team,
  type User,
} from "../project-helpers.ts";
import { cachedSearch, type SearchJson, search, sorted, suggestions, textDocument } from "../search-helpers.ts";

// Search over the documents of the caller's projects (issue 14): every part of a search (results,
// counts, facets, suggestions, "did you mean") reads by the rule of the `documents_read` policy,
// in which a project document is read through a live membership only, never through `owner_id`.
// Each scenario has its own words, so that its users' searches find only what it uploaded.

/** A text document filed in the project by `auth` (an editor or more) and processed; fails the test unless it ends `ready`. */
async function projectText(
  auth: Auth,
  projectId: string,
  title: string,
  text: string,
  tags: string[] = [],
): Promise<DocumentJson> {
  const doc = await created(
    formUpload(
      auth,
      { bytes: text, type: "text/plain", name: "notes.txt" },
      { title, tags },
      `/documents?projectId=${projectId}`,
    ),
  );
  const done = await processed(auth, doc.id);
  expect(done.status).toBe("ready");
  return done;
}

/** The `projectId` of the first hit's document. */
const projectOf = (body: SearchJson) =>
  (body.data[0]?.document as { projectId?: string | null } | undefined)?.projectId;
const ids = (body: SearchJson) => sorted(body.data.map((hit) => hit.document.id));
const facet = (entries: { value: string; count: number }[]) =>
  [...entries].sort((a, b) => a.value.localeCompare(b.value));
const texts = async (user: User, prefix: string) => (await suggestions(user.auth, prefix, 20)).map((s) => s.text);

const move = (auth: Auth, documentId: string, projectId: string | null) =>
  send(auth, "POST", `/documents/${documentId}/move`, { projectId });

/** What a caller who may not read the project's documents sees of a word in them: nothing at all. */
async function expectNothingOf(user: User, query: string) {
  const found = await search(user.auth, { q: query });
  expect(found.body.total).toBe(0);
  expect(found.body.data).toEqual([]);
  expect(found.body.facets.projects).toEqual([]);
  expect(found.body.facets.tags).toEqual([]);
}

describe("search in projects", async () => {
  const { project, owner, editor, viewer, stranger } = await team();
  const ledger = await projectText(editor.auth, project.id, "Pangolin ledger", "the pangolin quarterly tally", [
    "pangolin-herd",
  ]);
  const diary = await textDocument(editor.auth, "Pangolin diary", "the editor's own pangolin notes");

  it("finds, counts and facets a project's documents for every member, whatever their role", async () => {
    for (const member of [viewer, owner]) {
      const found = await search(member.auth, { q: "pangolin" });
      expect(ids(found.body)).toEqual([ledger.id]);
      expect(found.body.total).toBe(1);
      expect(found.body.facets.projects).toEqual([{ value: project.id, count: 1 }]);
      expect(found.body.facets.tags).toEqual([{ value: "pangolin-herd", count: 1 }]);
      expect(projectOf(found.body)).toBe(project.id);
    }
  });

  it("suggests a project document's title and tags to members only", async () => {
    expect(await texts(viewer, "pangol")).toEqual(expect.arrayContaining(["Pangolin ledger", "pangolin-herd"]));
    expect(await texts(viewer, "pangol")).not.toContain("Pangolin diary");
    const forStranger = await texts(stranger, "pangol");
    expect(forStranger).not.toContain("Pangolin ledger");
    expect(forStranger).not.toContain("pangolin-herd");
  });

  it("offers 'did you mean' from a project document's words to members only", async () => {
    const member = await search(viewer.auth, { q: "pangolim" });
    expect(member.body.total).toBe(0);
    expect(member.body.didYouMean).toEqual({ query: "pangolin", total: 1 });
    expect((await search(stranger.auth, { q: "pangolim" })).body.didYouMean).toBeNull();
  });

  it("shows a stranger nothing of the project: no results, counts, facets or tags", async () => {
    await expectNothingOf(stranger, "pangolin");
    await expectNothingOf(stranger, "tally");
    expect((await search(stranger.auth, { tags: "pangolin-herd" })).body.total).toBe(0);
    expect((await search(stranger.auth, { project: project.id })).body.total).toBe(0);
    expect((await search(stranger.auth, {})).body.facets.projects).toEqual([]);
  });

  it("filters by project or personal documents and facets both, `none` for personal ones", async () => {
    const all = await search(editor.auth, { q: "pangolin" });
    expect(ids(all.body)).toEqual(sorted([ledger.id, diary.id]));
    expect(facet(all.body.facets.projects)).toEqual(
      facet([
        { value: project.id, count: 1 },
        { value: "none", count: 1 },
      ]),
    );

    const inProject = await search(editor.auth, { q: "pangolin", project: project.id });
    expect(ids(inProject.body)).toEqual([ledger.id]);
    expect(inProject.body.total).toBe(1);
    expect(inProject.body.facets.projects).toEqual([{ value: project.id, count: 1 }]);

    const personal = await search(editor.auth, { q: "pangolin", project: "none" });
    expect(ids(personal.body)).toEqual([diary.id]);
    expect(personal.body.facets.projects).toEqual([{ value: "none", count: 1 }]);

    // Browsing (newest first) takes the same filter.
    expect(ids((await search(editor.auth, { project: project.id })).body)).toEqual([ledger.id]);

    const elsewhere = await createProject(editor.auth);
    expect((await search(editor.auth, { q: "pangolin", project: elsewhere.id })).body.total).toBe(0);
  });

  it("keeps the project filter in the cache key (a cached unfiltered search never answers a filtered one)", async () => {
    const user = await memberOf(owner.auth, project.id, "viewer");
    await textDocument(user.auth, "Pangolin sketch", "a personal pangolin drawing");
    const unfiltered = await cachedSearch(user.auth, { q: "pangolin" });
    expect(unfiltered.body.total).toBe(2);

    const inProject = await search(user.auth, { q: "pangolin", project: project.id });
    expect(inProject.cache).toBe("MISS");
    expect(ids(inProject.body)).toEqual([ledger.id]);
    const personal = await search(user.auth, { q: "pangolin", project: "none" });
    expect(personal.cache).toBe("MISS");
    expect(personal.body.total).toBe(1);
    expect(personal.body.data[0]?.document.title).toBe("Pangolin sketch");

    // The same project spelt in capitals is the same search.
    await cachedSearch(user.auth, { q: "pangolin", project: project.id });
    const shouted = await search(user.auth, { q: "pangolin", project: project.id.toUpperCase() });
    expect(shouted.cache).toBe("HIT");
    expect(ids(shouted.body)).toEqual([ledger.id]);
  });

  it("refuses a project filter that is neither a uuid nor `none`", async () => {
    for (const value of ["personal", "123", "NONE"]) {
      const res = await api(`/search?${new URLSearchParams({ q: "pangolin", project: value })}`, {
        headers: editor.auth,
      });
      const problem = await expectProblem(res, 400);
      expect(problem.errors?.map((error) => [error.in, error.pointer])).toEqual([["query", "/project"]]);
    }
  });
});

describe("search after leaving a project", async () => {
  // Queries run after the membership ended are ones the user never ran before, so no cached answer
  // can stand in for the access rule; the cache itself is the last test's subject.
  it("shows a removed uploader nothing of what they filed in the project, but still their own documents", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const uploader = await memberOf(owner.auth, project.id, "editor");
    const filed = await projectText(uploader.auth, project.id, "Okapi census", "okapi herds counted by the river", [
      "okapi-survey",
    ]);
    const own = await textDocument(uploader.auth, "Okapi postcard", "a personal okapi picture");
    expect(filed.ownerId).toBe(uploader.user.id);
    expect(ids((await search(uploader.auth, { q: "okapi" })).body)).toEqual(sorted([filed.id, own.id]));

    expect((await removeMember(owner.auth, project.id, uploader.user.id)).status).toBe(204);

    await expectNothingOf(uploader, "census");
    await expectNothingOf(uploader, "river");
    // Sorted newest first: a search of "okapi" they never ran.
    const after = await search(uploader.auth, { q: "okapi", sort: "recent" });
    expect(ids(after.body)).toEqual([own.id]);
    expect(after.body.facets.projects).toEqual([{ value: "none", count: 1 }]);
    expect((await search(uploader.auth, { q: "okapi", owner: uploader.user.id })).body.total).toBe(1);
    expect((await search(uploader.auth, { tags: "okapi-survey" })).body.total).toBe(0);
    expect((await search(uploader.auth, { project: project.id })).body.total).toBe(0);
    expect((await search(uploader.auth, { q: "censuz" })).body.didYouMean).toBeNull();
    const offered = await texts(uploader, "okap");
    expect(offered).toContain("Okapi postcard");
    expect(offered).not.toContain("Okapi census");
    expect(offered).not.toContain("okapi-survey");

    // The owner still finds it: it is the project's.
    expect(ids((await search(owner.auth, { q: "census" })).body)).toEqual([filed.id]);
  });

  it("shows a member who left nothing of the project, even what they uploaded", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const leaver = await memberOf(owner.auth, project.id, "editor");
    const filed = await projectText(leaver.auth, project.id, "Quokka timetable", "quokka feeding hours");
    expect(ids((await search(leaver.auth, { q: "quokka" })).body)).toEqual([filed.id]);

    expect((await removeMember(leaver.auth, project.id, leaver.user.id)).status).toBe(204);

    await expectNothingOf(leaver, "timetable");
    await expectNothingOf(leaver, "feeding");
    expect(await texts(leaver, "quokk")).not.toContain("Quokka timetable");
    expect((await search(leaver.auth, { q: "feedinh" })).body.didYouMean).toBeNull();
  });

  it("finds an archived project's documents still, and a deleted project's no more", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const member = await memberOf(owner.auth, project.id, "viewer");
    const filed = await projectText(owner.auth, project.id, "Tapir almanac", "tapir migration seasons");

    expect((await send(owner.auth, "POST", `/projects/${project.id}/archive`)).status).toBe(200);
    expect(ids((await search(member.auth, { q: "tapir" })).body)).toEqual([filed.id]);

    // Deleting takes an unarchived project.
    expect((await send(owner.auth, "POST", `/projects/${project.id}/unarchive`)).status).toBe(200);
    expect((await send(owner.auth, "DELETE", `/projects/${project.id}`)).status).toBe(204);
    await expectNothingOf(member, "almanac");
    await expectNothingOf(owner, "migration");
    expect(await texts(member, "tapi")).not.toContain("Tapir almanac");
  });

  it("drops a removed member's cached results at once", async () => {
    // Depends on the project routes invalidating the removed member's search cache scope.
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const member = await memberOf(owner.auth, project.id, "viewer");
    await projectText(owner.auth, project.id, "Wallaby roster", "wallaby keepers rota");
    expect((await cachedSearch(member.auth, { q: "wallaby" })).body.total).toBe(1);

    expect((await removeMember(owner.auth, project.id, member.user.id)).status).toBe(204);
    const after = await search(member.auth, { q: "wallaby" });
    expect(after.cache).toBe("MISS");
    expect(after.body.total).toBe(0);
    expect(after.body.facets.projects).toEqual([]);
  });
});

describe("moving a document between projects", async () => {
  const owner = await signedIn();
  const [first, second] = await Promise.all([createProject(owner.auth), createProject(owner.auth)]);
  const [inFirst, inSecond] = await Promise.all([
    memberOf(owner.auth, first.id, "viewer"),
    memberOf(owner.auth, second.id, "viewer"),
  ]);
  const doc = await projectText(owner.auth, first.id, "Wombat burrow survey", "wombat burrows mapped");

  it("moves its facet, its filter membership and who finds it", async () => {
    const before = await search(owner.auth, { q: "wombat" });
    expect(before.body.facets.projects).toEqual([{ value: first.id, count: 1 }]);
    expect((await search(owner.auth, { q: "wombat", project: first.id })).body.total).toBe(1);
    expect((await search(owner.auth, { q: "wombat", project: second.id })).body.total).toBe(0);
    expect((await search(inFirst.auth, { q: "wombat" })).body.total).toBe(1);
    expect((await search(inSecond.auth, { q: "wombat" })).body.total).toBe(0);

    await expectJson<DocumentJson>(await move(owner.auth, doc.id, second.id), 200);

    // The same searches again: the move made their cached answers stale.
    const moved = await search(owner.auth, { q: "wombat" });
    expect(moved.body.facets.projects).toEqual([{ value: second.id, count: 1 }]);
    expect(projectOf(moved.body)).toBe(second.id);
    expect((await search(owner.auth, { q: "wombat", project: first.id })).body.total).toBe(0);
    expect((await search(owner.auth, { q: "wombat", project: second.id })).body.total).toBe(1);
    expect((await search(inFirst.auth, { q: "wombat" })).body.total).toBe(0);
    expect((await search(inSecond.auth, { q: "wombat" })).body.total).toBe(1);
    expect(await texts(inSecond, "wombat bur")).toContain("Wombat burrow survey");
    expect(await texts(inFirst, "wombat bur")).not.toContain("Wombat burrow survey");

    await expectJson<DocumentJson>(await move(owner.auth, doc.id, null), 200);

    const personal = await search(owner.auth, { q: "wombat" });
    expect(personal.body.facets.projects).toEqual([{ value: "none", count: 1 }]);
    expect((await search(owner.auth, { q: "wombat", project: "none" })).body.total).toBe(1);
    expect((await search(owner.auth, { q: "wombat", project: second.id })).body.total).toBe(0);
    expect((await search(inSecond.auth, { q: "wombat" })).body.total).toBe(0);
  });

  it("counts a document shared with a non-member under its project, and only that one", async () => {
    const reader = await signedIn();
    const shared = await projectText(owner.auth, second.id, "Numbat field notes", "numbat sightings at dawn");
    await projectText(owner.auth, second.id, "Numbat diet chart", "numbat termite intake");
    expect((await search(reader.auth, { q: "numbat" })).body.total).toBe(0);
    const share = await send(owner.auth, "PUT", `/documents/${shared.id}/shares`, {
      user: reader.user.username,
      access: "read",
    });
    expect(share.status).toBe(200);
    const found = await search(reader.auth, { q: "numbat" });
    expect(ids(found.body)).toEqual([shared.id]);
    expect(found.body.facets.projects).toEqual([{ value: second.id, count: 1 }]);
    expect(ids((await search(reader.auth, { project: second.id })).body)).toEqual([shared.id]);
    expect((await search(owner.auth, { q: "numbat" })).body.total).toBe(2);
  });
});
