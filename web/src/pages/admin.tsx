import type { components } from "@techcorp/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { formatBytes, formatInstant } from "../components/format.ts";
import { ProblemMessage } from "../components/problem-message.tsx";
import { client, currentUser } from "../session/session.ts";

type User = components["schemas"]["User"];
type Metrics = components["schemas"]["BusinessMetrics"];

/** Administration: the platform's metrics as charts (`/admin`) and the users with their roles (`/admin/users`). */
export function Admin() {
  const { params } = useRoute();
  if (currentUser.value?.role !== "admin") {
    return (
      <>
        <h1>Administration</h1>
        <p>Only administrators can see this page.</p>
      </>
    );
  }
  return (
    <>
      <h1>Administration</h1>
      <nav aria-label="Administration" class="tabs">
        <a href="/admin" aria-current={params.section ? undefined : "page"}>
          Metrics
        </a>
        <a href="/admin/users" aria-current={params.section === "users" ? "page" : undefined}>
          Users
        </a>
      </nav>
      {params.section === "users" ? <Users /> : <MetricsCharts />}
    </>
  );
}

function MetricsCharts() {
  const [metrics, setMetrics] = useState<Metrics | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86_400_000);
    client.api
      .GET("/analytics/metrics", { params: { query: { from: from.toISOString(), to: to.toISOString() } } })
      .then(({ data }) => setMetrics(data))
      .catch(setError);
  }, []);
  if (error) return <ProblemMessage error={error} />;
  if (!metrics) return <p aria-busy="true">Loading…</p>;
  return (
    <>
      <dl class="stats">
        <div>
          <dt>Users</dt>
          <dd>{metrics.users.total}</dd>
        </div>
        <div>
          <dt>Active users</dt>
          <dd>{metrics.users.active}</dd>
        </div>
        <div>
          <dt>Documents</dt>
          <dd>{metrics.documents.count}</dd>
        </div>
        <div>
          <dt>Stored</dt>
          <dd>{formatBytes(metrics.documents.bytes)}</dd>
        </div>
        <div>
          <dt>Projects</dt>
          <dd>{metrics.projects.total}</dd>
        </div>
      </dl>
      <Chart
        title="Uploads and searches per day (last 30 days)"
        kind="line"
        labels={metrics.documents.uploadedPerDay.map((day) => day.day)}
        series={[
          { label: "Uploads", data: metrics.documents.uploadedPerDay.map((day) => day.count) },
          { label: "Searches", data: metrics.searches.perDay.map((day) => day.count) },
          { label: "New users", data: metrics.users.newPerDay.map((day) => day.count) },
        ]}
      />
      <Chart
        title="Documents by type"
        kind="bar"
        labels={metrics.documents.byType.map((entry) => entry.type)}
        series={[{ label: "Documents", data: metrics.documents.byType.map((entry) => entry.count) }]}
      />
    </>
  );
}

interface ChartProps {
  title: string;
  kind: "line" | "bar";
  labels: string[];
  series: { label: string; data: number[] }[];
}

/**
 * A Chart.js chart on a canvas (loaded with this page only), with the same numbers in a table
 * for screen readers and keyboard users: a canvas is a picture to them.
 */
function Chart({ title, kind, labels, series }: ChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    let chart: { destroy(): void } | undefined;
    let cancelled = false;
    void import("chart.js/auto").then(({ default: ChartJs }) => {
      if (cancelled || !canvas.current) return;
      chart = new ChartJs(canvas.current, {
        type: kind,
        data: { labels, datasets: series.map((entry) => ({ label: entry.label, data: entry.data })) },
        options: { responsive: true, animation: false, plugins: { title: { display: false } } },
      });
    });
    return () => {
      cancelled = true;
      chart?.destroy();
    };
  }, [kind, labels, series]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <canvas ref={canvas} role="img" aria-label={`${title}: a chart; the numbers are in the table below it`} />
      <details>
        <summary>The numbers</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">{kind === "line" ? "Day" : "Type"}</th>
              {series.map((entry) => (
                <th scope="col" key={entry.label}>
                  {entry.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((label, index) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                {series.map((entry) => (
                  <td key={entry.label}>{entry.data[index] ?? 0}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

function Users() {
  const [users, setUsers] = useState<User[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [search, setSearch] = useState("");
  const [error, setError] = useState<unknown>();

  const load = async (after?: string) => {
    setError(undefined);
    try {
      const { data } = await client.api.GET("/users", {
        params: { query: { limit: 50, ...(search ? { search } : {}), ...(after ? { cursor: after } : {}) } },
      });
      setUsers((shown) => (after ? [...shown, ...data.data] : data.data));
      setCursor(data.nextCursor);
    } catch (caught) {
      setError(caught);
    }
  };

  useEffect(() => {
    void load();
  }, [search]);

  const setRole = async (user: User, role: User["role"]) => {
    setError(undefined);
    try {
      await client.api.PUT("/users/{id}/role", { params: { path: { id: user.id } }, body: { role } });
      await load();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="users-heading">
      <h2 id="users-heading">Users</h2>
      <label>
        Find by email or username
        <input type="search" value={search} onChange={(event) => setSearch(event.currentTarget.value.trim())} />
      </label>
      <ProblemMessage error={error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Username</th>
            <th scope="col">Email</th>
            <th scope="col">Status</th>
            <th scope="col">Joined</th>
            <th scope="col">Role</th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id}>
              <td>{user.username}</td>
              <td>{user.email}</td>
              <td>{user.status}</td>
              <td>{formatInstant(user.createdAt)}</td>
              <td>
                <select
                  aria-label={`Role of ${user.username}`}
                  value={user.role}
                  disabled={user.id === currentUser.value?.id}
                  onChange={(event) => setRole(user, event.currentTarget.value === "admin" ? "admin" : "user")}
                >
                  <option value="user">user</option>
                  <option value="admin">admin</option>
                </select>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor ? (
        <button type="button" class="secondary" onClick={() => load(cursor)}>
          More users
        </button>
      ) : null}
    </section>
  );
}
