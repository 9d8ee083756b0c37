import { describe, expect, it } from "vitest";
import {
  anchorOf,
  grafanaToPromql,
  partsOf,
  problemsOf,
  readMetricTable,
  runbookProblems,
  seriesOf,
  tableDrift,
} from "../../scripts/check-monitoring.ts";

const README = `# A project

### Metrics

| metric | type | labels | what |
| --- | --- | --- | --- |
| \`http_request_duration_seconds\` | histogram | \`method\`, \`route\` | time to the headers |
| \`http_request_size_bytes\` | histogram | as above | request bodies |
| \`jobs_total\` | counter | \`queue\`, \`outcome\` | jobs done |
| \`users\` | gauge | | accounts |

### Next

| \`not_a_metric\` | gauge | \`x\` | a later table |
`;

describe("readMetricTable", () => {
  it("reads each row's name, type and labels, 'as above' taking the previous row's", () => {
    expect(readMetricTable(README)).toEqual([
      { name: "http_request_duration_seconds", type: "histogram", labels: ["method", "route"] },
      { name: "http_request_size_bytes", type: "histogram", labels: ["method", "route"] },
      { name: "jobs_total", type: "counter", labels: ["queue", "outcome"] },
      { name: "users", type: "gauge", labels: [] },
    ]);
  });

  it("fails when the section or its table is missing, instead of allowing nothing", () => {
    expect(() => readMetricTable("# A project\n")).toThrow('no "### Metrics" section');
    expect(() => readMetricTable("### Metrics\n\nNo table yet.\n")).toThrow("has no metric table");
  });
});

describe("seriesOf", () => {
  it("expands a histogram into its three series, le on the buckets, the target's labels on all", () => {
    const series = seriesOf(readMetricTable(README));
    expect([...series.keys()]).toEqual([
      "http_request_duration_seconds_bucket",
      "http_request_duration_seconds_sum",
      "http_request_duration_seconds_count",
      "http_request_size_bytes_bucket",
      "http_request_size_bytes_sum",
      "http_request_size_bytes_count",
      "jobs_total",
      "users",
    ]);
    expect(series.get("http_request_duration_seconds_bucket")).toEqual(
      new Set(["method", "route", "job", "instance", "le"]),
    );
    expect(series.get("http_request_duration_seconds_count")).toEqual(new Set(["method", "route", "job", "instance"]));
    expect(series.get("users")).toEqual(new Set(["job", "instance"]));
  });
});

describe("partsOf", () => {
  it("finds the selectors and their matchers' labels, and the grouping clauses' labels", () => {
    expect(
      partsOf('histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{route!~"/x", method="GET"}[5m])))'),
    ).toEqual({ selectors: [{ name: "a_bucket", labels: ["route", "method"] }], groupingLabels: ["job", "le"] });
  });

  it("skips functions, aggregations, operators, keywords, numbers, durations and strings", () => {
    const expression = `sum(rate(a_total[1h30m] offset 5m)) without (instance) / on (job) group_left (store)
      max by (store) (b) > bool 1.5e3 and absent(c) unless count_values("value", d) or label_replace(e, "x", "$1", "y", "(.*)")`;
    expect(partsOf(expression)).toEqual({
      selectors: ["a_total", "b", "c", "d", "e"].map((name) => ({ name, labels: [] })),
      groupingLabels: ["instance", "job", "store", "store"],
    });
  });

  it("reads braces and quotes inside a matcher's value as the value, in all three quotes", () => {
    const expression = 'a{route=~`/documents/\\{id\\}`, b="say \\"}\\"", c=\'}\'} + b';
    expect(partsOf(expression).selectors).toEqual([
      { name: "a", labels: ["route", "b", "c"] },
      { name: "b", labels: [] },
    ]);
  });

  it("takes the name from __name__, ignores comments, and keeps a nameless selector as such", () => {
    expect(partsOf('{__name__="a", job="x"} # b{c="d"}\n + {job="y"}').selectors).toEqual([
      { name: "a", labels: ["job"] },
      { name: undefined, labels: ["job"] },
    ]);
  });

  it("throws on label matchers it cannot read", () => {
    expect(() => partsOf("a{job}")).toThrow("the operator after job");
    expect(() => partsOf('a{job="x"')).toThrow("cannot read");
    expect(() => partsOf('a{job="x}')).toThrow("unterminated string");
  });
});

describe("problemsOf", () => {
  const series = new Map<string, Set<string> | undefined>([
    ...seriesOf(readMetricTable(README)),
    ["job:jobs:rate5m", undefined],
  ]);

  it("accepts metrics of the table, their labels and recording rules", () => {
    const expression =
      'sum by (queue) (rate(jobs_total{outcome="retried"}[5m])) / job:jobs:rate5m{queue="a"} and users{job="x"}';
    expect(problemsOf(expression, series)).toEqual([]);
  });

  it("names an unknown metric, a label the metric lacks, and a grouping label no metric has", () => {
    expect(problemsOf('sum by (queu) (rate(job_total[5m])) + users{queue="a"} + {job="x"}', series)).toEqual([
      "job_total is neither in README.md's metric table nor a recording rule",
      "users has no label queue",
      "a selector without a metric name",
      "no metric has the label queu it groups by",
    ]);
  });

  it("reports what it cannot read instead of passing it", () => {
    expect(problemsOf("users{job}", series)).toEqual([expect.stringContaining("the operator after job")]);
  });
});

describe("grafanaToPromql", () => {
  it("gives the interval built-ins a duration and the dashboard's variables a placeholder", () => {
    expect(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${variable} syntax, not a template
      grafanaToPromql('rate(a{job="$job", x="${job:regex}"}[$__rate_interval]) offset ${__interval}', new Set(["job"])),
    ).toBe('rate(a{job="variable", x="variable"}[5m]) offset 1m');
  });

  it("throws on a variable the dashboard does not define", () => {
    expect(() => grafanaToPromql("rate(a[$window])", new Set(["job"]))).toThrow("$window is not a variable");
  });
});

describe("anchorOf", () => {
  it("makes GitHub's anchor of a heading", () => {
    expect(anchorOf("Alerts, as code")).toBe("alerts-as-code");
    expect(anchorOf("Security (OWASP API Top 10)")).toBe("security-owasp-api-top-10");
  });
});

describe("tableDrift", () => {
  const table = readMetricTable(README);
  const code = [
    { name: "http_request_duration_seconds", type: "histogram", help: "", labels: ["method", "route"] },
    { name: "http_request_size_bytes", type: "histogram", help: "", labels: ["method", "route"] },
    { name: "jobs_total", type: "counter", help: "", labels: ["queue", "outcome"] },
    { name: "users", type: "gauge", help: "", labels: [] },
  ] as const;

  it("is empty when the README's table lists what the code exports", () => {
    expect(tableDrift(table, code)).toEqual([]);
  });

  it("names a metric on one side only, and one whose type or labels differ", () => {
    const [duration, size, jobs] = code;
    expect(
      tableDrift(table, [
        duration,
        size,
        { ...jobs, labels: ["queue"] },
        { name: "sessions", type: "gauge", help: "", labels: [] },
      ]),
    ).toEqual([
      "jobs_total: README.md says counter (queue, outcome), the code counter (queue)",
      "sessions is exported but not in README.md's table",
      "users is in README.md's table but not exported",
    ]);
  });
});

describe("runbookProblems", () => {
  const RUNBOOK = `# Runbook

## Alerts

### DiskFull

Free space.

### Gone

An alert that was removed.

## Failover

### Promote
`;
  const url = (anchor: string) => `https://example.com/blob/main/docs/runbook.md#${anchor}`;

  it("accepts alerts whose sections exist under Alerts and whose runbook_url points at them", () => {
    expect(
      runbookProblems([{ alert: "DiskFull", runbookUrl: url("diskfull") }], RUNBOOK.replace(/### Gone[^#]*/, "")),
    ).toEqual([]);
  });

  it("names an alert without a section, a section without an alert, and a runbook_url elsewhere", () => {
    expect(
      runbookProblems(
        [
          { alert: "DiskFull", runbookUrl: "https://example.com/blob/main/README.md#alerts-as-code" },
          { alert: "Promote", runbookUrl: url("promote") },
        ],
        RUNBOOK,
      ),
    ).toEqual([
      'Promote: no "### Promote" section in docs/runbook.md\'s alerts',
      'docs/runbook.md\'s "### Gone" names no alert of the rules',
      "DiskFull: runbook_url https://example.com/blob/main/README.md#alerts-as-code is not docs/runbook.md#diskfull",
    ]);
  });

  it("fails without an Alerts section", () => {
    expect(runbookProblems([], "# Runbook\n")).toEqual(['docs/runbook.md has no "## Alerts" section']);
  });
});
