import { login, markEmailVerified, register, signedIn, uniqueName } from "./auth-helpers.ts";
import { api } from "./helpers.ts";

export type Auth = Record<string, string>;
export type ProjectRole = "owner" | "admin" | "editor" | "viewer";

export interface ProjectJson {
  id: string;
  slug: string;
  name: string;
  description: string;
  settings: Record<string, unknown>;
  role: ProjectRole | null;
  createdBy: string | null;
  archivedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface MemberJson {
  userId: string;
  username: string;
  displayName: string | null;
  role: ProjectRole;
  addedBy: string | null;
  joinedAt: string;
}

export interface InvitationJson {
  id: string;
  project: { id: string; slug: string; name: string };
  invitee: { id: string; login: string };
  role: Exclude<ProjectRole, "owner">;
  status: string;
  invitedBy: string | null;
  expiresAt: string;
  createdAt: string;
  respondedAt: string | null;
}

export type User = Awaited<ReturnType<typeof signedIn>>;

/** A request with a JSON body (when `body` is given) as `auth`. */
export function send(auth: Auth, method: string, path: string, body?: unknown): Promise<Response> {
  return api(path, {
    method,
    headers: body === undefined ? auth : { ...auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Reads a success's JSON body, failing with the response's text when its status is not `status`. */
export async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** A signed-in user with the username given (for tests of ordering by username). */
export async function signedInAs(username: string): Promise<User> {
  const { user, password } = await register({ username });
  await markEmailVerified(user);
  const tokens = await login(user.username, password);
  return { user, password, tokens, auth: { authorization: `Bearer ${tokens.access_token}` } };
}

/** A project created by `auth` (201), named uniquely unless `body` says otherwise. */
export async function createProject(auth: Auth, body: Record<string, unknown> = {}): Promise<ProjectJson> {
  return expectJson<ProjectJson>(await send(auth, "POST", "/projects", { name: uniqueName("Project"), ...body }), 201);
}

export async function invite(
  auth: Auth,
  projectId: string,
  login: string,
  role: Exclude<ProjectRole, "owner">,
): Promise<InvitationJson> {
  return expectJson<InvitationJson>(
    await send(auth, "POST", `/projects/${projectId}/invitations`, { login, role }),
    201,
  );
}

export const accept = (auth: Auth, invitationId: string) => send(auth, "POST", `/invitations/${invitationId}/accept`);
export const decline = (auth: Auth, invitationId: string) => send(auth, "POST", `/invitations/${invitationId}/decline`);

/**
 * `user` made a member of the project in `role` the way members join: invited by `ownerAuth` and
 * accepting; an owner is invited as admin and then promoted by `ownerAuth`.
 */
export async function join(ownerAuth: Auth, projectId: string, user: User, role: ProjectRole): Promise<void> {
  const invitation = await invite(ownerAuth, projectId, user.user.username, role === "owner" ? "admin" : role);
  await expectJson<ProjectJson>(await accept(user.auth, invitation.id), 200);
  if (role === "owner") {
    await expectJson<MemberJson>(await setRole(ownerAuth, projectId, user.user.id, "owner"), 200);
  }
}

/** A new signed-in user who is a member of the project in `role`. */
export async function memberOf(ownerAuth: Auth, projectId: string, role: ProjectRole): Promise<User> {
  const user = await signedIn();
  await join(ownerAuth, projectId, user, role);
  return user;
}

/** A project with an owner, and one member in each other role, and a stranger. */
export async function team() {
  const [owner, admin, editor, viewer, stranger] = await Promise.all([
    signedIn(),
    signedIn(),
    signedIn(),
    signedIn(),
    signedIn(),
  ]);
  const project = await createProject(owner.auth);
  await Promise.all([
    join(owner.auth, project.id, admin, "admin"),
    join(owner.auth, project.id, editor, "editor"),
    join(owner.auth, project.id, viewer, "viewer"),
  ]);
  return { project, owner, admin, editor, viewer, stranger };
}

export const setRole = (auth: Auth, projectId: string, userId: string, role: string) =>
  send(auth, "PATCH", `/projects/${projectId}/members/${userId}`, { role });

export const removeMember = (auth: Auth, projectId: string, userId: string) =>
  send(auth, "DELETE", `/projects/${projectId}/members/${userId}`);

export async function membersOf(auth: Auth, projectId: string): Promise<MemberJson[]> {
  return (await expectJson<{ data: MemberJson[] }>(await send(auth, "GET", `/projects/${projectId}/members`), 200))
    .data;
}

/** The members' roles by user id. */
export async function rolesIn(auth: Auth, projectId: string): Promise<Record<string, ProjectRole>> {
  return Object.fromEntries((await membersOf(auth, projectId)).map((m) => [m.userId, m.role]));
}

export async function inboxOf(auth: Auth): Promise<InvitationJson[]> {
  return (await expectJson<{ data: InvitationJson[] }>(await send(auth, "GET", "/invitations"), 200)).data;
}

/** The project as `auth` reads it (200). */
export async function readProject(auth: Auth, projectId: string): Promise<ProjectJson> {
  return expectJson<ProjectJson>(await send(auth, "GET", `/projects/${projectId}`), 200);
}
