import { type components, type Document, ProblemError } from "@techcorp/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { formatBytes, formatInstant } from "../components/format.ts";
import { Preview } from "../components/preview.tsx";
import { ProblemMessage } from "../components/problem-message.tsx";
import { FINAL_STATUSES, StatusBadge } from "../components/status-badge.tsx";
import { client, currentUser } from "../session/session.ts";
import { uploadWithXhr } from "../uploads/xhr-upload.ts";

type Version = components["schemas"]["DocumentVersion"];
type Share = components["schemas"]["DocumentShare"];

/** How often a document still being processed is read again, ms. */
const STATUS_POLL_MS = 1500;

/**
 * One document: its preview, details, download, versions (upload a new one, restore an old one),
 * who it is shared with (owners manage that), and delete.
 */
export function DocumentPage() {
  const { params } = useRoute();
  const id = params.id ?? "";
  const [document, setDocument] = useState<Document | undefined>();
  const [error, setError] = useState<unknown>();

  const reload = useCallback(async () => {
    try {
      const { data } = await client.api.GET("/documents/{id}", { params: { path: { id } } });
      setDocument(data);
    } catch (caught) {
      setError(caught);
    }
  }, [id]);

  useEffect(() => {
    setDocument(undefined);
    setError(undefined);
    void reload();
  }, [reload]);

  useEffect(() => {
    if (!document || FINAL_STATUSES.has(document.status)) return;
    const timer = setTimeout(reload, STATUS_POLL_MS);
    return () => clearTimeout(timer);
  }, [document, reload]);

  if (error) {
    return (
      <>
        <h1>Document</h1>
        {error instanceof ProblemError && error.status === 404 ? (
          <p>This document does not exist, or it is not shared with you.</p>
        ) : (
          <ProblemMessage error={error} />
        )}
      </>
    );
  }
  if (!document) return <p aria-busy="true">Loading…</p>;

  const owner = currentUser.value?.id === document.ownerId || currentUser.value?.role === "admin";
  return (
    <>
      <h1>{document.title}</h1>
      <div class="document-layout">
        <section aria-label="Preview" class="preview">
          <Preview document={document} />
        </section>
        <section aria-labelledby="details-heading">
          <h2 id="details-heading">Details</h2>
          <dl class="details">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={document.status} />
              {document.failureReason ? ` (${document.failureReason.replaceAll("_", " ")})` : null}
            </dd>
            <dt>Type</dt>
            <dd>{document.contentType}</dd>
            <dt>Size</dt>
            <dd>{formatBytes(document.sizeBytes)}</dd>
            <dt>Version</dt>
            <dd>{document.currentVersion}</dd>
            <dt>Uploaded</dt>
            <dd>{formatInstant(document.createdAt)}</dd>
            {document.tags.length > 0 ? (
              <>
                <dt>Tags</dt>
                <dd>{document.tags.join(", ")}</dd>
              </>
            ) : null}
          </dl>
          <Actions document={document} />
        </section>
      </div>
      <Versions document={document} onChange={reload} />
      {owner ? <Shares document={document} /> : null}
    </>
  );
}

function Actions({ document }: { document: Document }) {
  const { route } = useLocation();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const download = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const file = await client.downloadDocument(document.id);
      const blob = await new Response(file.body).blob();
      const link = window.document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = file.filename ?? document.title;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!confirm(`Delete “${document.title}” and all its versions?`)) return;
    setError(undefined);
    try {
      await client.api.DELETE("/documents/{id}", { params: { path: { id: document.id } } });
      route("/");
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <div class="actions">
      <button type="button" onClick={download} disabled={busy || document.status !== "ready"} aria-busy={busy}>
        Download
      </button>
      <button type="button" class="danger" onClick={remove}>
        Delete
      </button>
      <ProblemMessage error={error} />
    </div>
  );
}

function Versions({ document, onChange }: { document: Document; onChange: () => void }) {
  const [versions, setVersions] = useState<Version[]>([]);
  const [error, setError] = useState<unknown>();
  const [progress, setProgress] = useState<number | undefined>();

  const load = useCallback(async () => {
    try {
      const { data } = await client.api.GET("/documents/{id}/versions", { params: { path: { id: document.id } } });
      setVersions(data.data);
    } catch (caught) {
      setError(caught);
    }
  }, [document.id]);

  useEffect(() => {
    void load();
  }, [load, document.currentVersion, document.status]);

  const restore = async (version: number) => {
    setError(undefined);
    try {
      await client.api.POST("/documents/{id}/versions/{version}/restore", {
        params: { path: { id: document.id, version } },
      });
      onChange();
    } catch (caught) {
      setError(caught);
    }
  };

  const upload = async (file: File | undefined) => {
    if (!file) return;
    setError(undefined);
    try {
      const accessToken = await client.accessToken();
      if (!accessToken) throw new Error("Signed out: sign in again to upload.");
      setProgress(0);
      await uploadWithXhr({
        file,
        documentId: document.id,
        contentType: file.type || document.contentType,
        accessToken,
        onProgress: ({ sentBytes, totalBytes }) => setProgress(sentBytes / (totalBytes || 1)),
        signal: new AbortController().signal,
      });
      onChange();
    } catch (caught) {
      setError(caught);
    } finally {
      setProgress(undefined);
    }
  };

  return (
    <section aria-labelledby="versions-heading">
      <h2 id="versions-heading">Versions</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Status</th>
            <th scope="col">Size</th>
            <th scope="col">Uploaded</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {versions.map((version) => (
            <tr key={version.version}>
              <td>
                {version.version}
                {version.restoredFrom ? ` (restored from ${version.restoredFrom})` : ""}
              </td>
              <td>
                <StatusBadge status={version.status} />
              </td>
              <td>{formatBytes(version.sizeBytes)}</td>
              <td>{formatInstant(version.createdAt)}</td>
              <td>
                {version.version === document.currentVersion ? (
                  "Current"
                ) : (
                  <button type="button" class="secondary" onClick={() => restore(version.version)}>
                    Restore<span class="visually-hidden"> version {version.version}</span>
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <label>
        Upload a new version
        <input type="file" onChange={(event) => upload(event.currentTarget.files?.[0])} />
      </label>
      {progress !== undefined ? <progress max={1} value={progress} aria-label="New version upload" /> : null}
      <ProblemMessage error={error} />
    </section>
  );
}

function Shares({ document }: { document: Document }) {
  const [shares, setShares] = useState<Share[]>([]);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();

  const load = useCallback(async () => {
    try {
      const { data } = await client.api.GET("/documents/{id}/shares", { params: { path: { id: document.id } } });
      setShares(data.data);
    } catch (caught) {
      setError(caught);
    }
  }, [document.id]);

  useEffect(() => {
    void load();
  }, [load]);

  const share = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const fields = new FormData(form);
    setError(undefined);
    setNotice(undefined);
    try {
      const { data } = await client.api.PUT("/documents/{id}/shares", {
        params: { path: { id: document.id } },
        body: { user: String(fields.get("user") ?? ""), access: fields.get("access") === "write" ? "write" : "read" },
      });
      setNotice(
        `Shared with ${data.user} if that account exists (the answer is the same either way, so that no one can probe for accounts).`,
      );
      form.reset();
      await load();
    } catch (caught) {
      setError(caught);
    }
  };

  const unshare = async (userId: string) => {
    setError(undefined);
    try {
      await client.api.DELETE("/documents/{id}/shares/{userId}", { params: { path: { id: document.id, userId } } });
      await load();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="shares-heading">
      <h2 id="shares-heading">Sharing</h2>
      {shares.length === 0 ? <p>Not shared with anyone.</p> : null}
      <ul class="shares">
        {shares.map((entry) => (
          <li key={entry.userId}>
            {entry.username} ({entry.access === "write" ? "can edit" : "can read"}){" "}
            <button type="button" class="secondary" onClick={() => unshare(entry.userId)}>
              Stop sharing<span class="visually-hidden"> with {entry.username}</span>
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={share}>
        <label>
          Email or username
          <input name="user" required autocomplete="off" />
        </label>
        <label>
          Access
          <select name="access">
            <option value="read">Can read</option>
            <option value="write">Can edit</option>
          </select>
        </label>
        <button type="submit">Share</button>
      </form>
      {notice ? <p role="status">{notice}</p> : null}
      <ProblemMessage error={error} />
    </section>
  );
}
