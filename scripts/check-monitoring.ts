// `npm run monitoring:check`: checks the alerting, its runbook (docs/runbook.md) and the dashboard of monitoring/ (README.md,
// "Alerts, as code"). promtool checks the rule files and runs their unit tests; amtool checks the
// Alertmanager configuration and where each alert is routed; a throwaway Alertmanager shows that the
// inhibitions mute what they should. Every PromQL expression, in the rules and in the Grafana
// dashboard, may only read metrics of README.md's metric table (the contract /metrics is built to),
// `up` and the recording rules, with the labels the table gives them: a renamed metric fails here,
// not silently on a dashboard.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { CATALOG, type MetricDefinition } from "../src/pkg/metrics/catalog.ts";
import { findBinary } from "../stack/binaries.ts";
import { terminate } from "../stack/child.ts";
import { freePort } from "../stack/ports.ts";

/** One row of README.md's metric table. */
export interface MetricEntry {
  name: string;
  type: "counter" | "gauge" | "histogram";
  labels: string[];
}

/**
 * Where README.md's table and the metrics the code defines differ: a metric missing on either side,
 * or listed with another type or other labels. Empty when they agree.
 */
export function tableDrift(table: MetricEntry[], code: readonly MetricDefinition[]): string[] {
  const problems: string[] = [];
  for (const metric of code) {
    const row = table.find((entry) => entry.name === metric.name);
    if (!row) problems.push(`${metric.name} is exported but not in README.md's table`);
    else if (row.type !== metric.type || row.labels.join(",") !== metric.labels.join(",")) {
      problems.push(
        `${metric.name}: README.md says ${row.type} (${row.labels.join(", ")}), the code ${metric.type} (${metric.labels.join(", ")})`,
      );
    }
  }
  for (const row of table) {
    if (!code.some((metric) => metric.name === row.name))
      problems.push(`${row.name} is in README.md's table but not exported`);
  }
  return problems;
}

/** Labels every scraped series carries besides its own: the target's. */
const TARGET_LABELS = ["job", "instance"];
const METRICS_HEADING = "### Metrics";
const TABLE_ROW = /^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(counter|gauge|histogram)\s*\|([^|]*)\|/;

/**
 * Reads the metric table of README.md's "Metrics" section: one row per metric, its name in
 * backquotes, its type, its labels in backquotes ("as above": the previous row's). Throws when the
 * section or the table is missing, so a reworded README fails the check instead of allowing nothing.
 */
export function readMetricTable(readme: string): MetricEntry[] {
  const lines = readme.split("\n");
  const start = lines.findIndex((line) => line.trim() === METRICS_HEADING);
  if (start === -1) throw new Error(`README.md has no "${METRICS_HEADING}" section`);
  const entries: MetricEntry[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("#")) break;
    const row = TABLE_ROW.exec(line.trim());
    if (row === null) continue;
    const [, name = "", type = "gauge", cell = ""] = row;
    const previous = entries.at(-1);
    const labels =
      cell.trim() === "as above" && previous
        ? previous.labels
        : [...cell.matchAll(/`([^`]+)`/g)].map(([, l = ""]) => l);
    entries.push({ name, type: type as MetricEntry["type"], labels });
  }
  if (entries.length === 0) throw new Error(`README.md's "${METRICS_HEADING}" section has no metric table`);
  return entries;
}

/**
 * The series names a scrape of these metrics yields, each with the labels it may carry: a histogram
 * is its `_bucket` (with `le`), `_sum` and `_count` series; every series also has the target's labels.
 */
export function seriesOf(entries: MetricEntry[]): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const { name, type, labels } of entries) {
    const own = [...labels, ...TARGET_LABELS];
    if (type === "histogram") {
      series.set(`${name}_bucket`, new Set([...own, "le"]));
      series.set(`${name}_sum`, new Set(own));
      series.set(`${name}_count`, new Set(own));
    } else {
      series.set(name, new Set(own));
    }
  }
  return series;
}

/** A selector of an expression: its metric name (undefined for `{…}` alone) and its matchers' labels. */
export interface Selector {
  name: string | undefined;
  labels: string[];
}

/** What an expression reads: its selectors, and the labels named by `by`, `without`, `on`, … clauses. */
export interface ExpressionParts {
  selectors: Selector[];
  groupingLabels: string[];
}

const IDENTIFIER = /[A-Za-z_:][A-Za-z0-9_:]*/y;
const NUMBER =
  /(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?:(?:ms|[smhdwy])(?:[0-9]+(?:ms|[smhdwy]))*)?/y;
const MATCH_OPERATOR = /=~|!~|!=|=/y;
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
/** Aggregation operators: `sum by (job) (…)` puts a clause, not `(`, after the name. */
const AGGREGATIONS = [
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
];
/** Words that are operators or modifiers, never metric names (PromQL reads them case-insensitively). */
const KEYWORDS = new Set([
  ...GROUPING,
  ...AGGREGATIONS,
  "and",
  "or",
  "unless",
  "atan2",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/**
 * Splits a PromQL expression into the selectors it reads and the labels its grouping clauses name.
 * A lexer, not a full parser: it knows strings (all three quotes), comments, numbers and durations,
 * range brackets, label matchers and calls (an identifier before `(`), which is what telling a
 * metric name from the rest needs; promtool checks the syntax itself. Throws on label matchers it
 * cannot read.
 */
export function partsOf(expression: string): ExpressionParts {
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  let i = 0;
  /** The selector the last token opened: matchers right after a metric name belong to it. */
  let open: Selector | undefined;

  /** Skips blanks and comments; returns the character there ("" at the end). */
  const next = (): string => {
    for (;;) {
      while (i < expression.length && /\s/.test(expression.charAt(i))) i++;
      if (expression.charAt(i) !== "#") return expression.charAt(i);
      while (i < expression.length && expression.charAt(i) !== "\n") i++;
    }
  };
  const read = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = i;
    const match = pattern.exec(expression);
    if (match === null) return undefined;
    i = pattern.lastIndex;
    return match[0];
  };
  /** Reads a string literal starting at `i` and returns its raw content. */
  const readString = (): string => {
    const quote = expression.charAt(i);
    const start = ++i;
    while (i < expression.length && expression.charAt(i) !== quote)
      i += quote !== "`" && expression.charAt(i) === "\\" ? 2 : 1;
    if (i >= expression.length) throw new Error(`an unterminated string in ${JSON.stringify(expression)}`);
    return expression.slice(start, i++);
  };
  const fail = (what: string): never => {
    throw new Error(`cannot read ${what} at offset ${i} of ${JSON.stringify(expression)}`);
  };

  while (next() !== "") {
    const char = expression.charAt(i);
    if (char === '"' || char === "'" || char === "`") {
      readString();
      open = undefined;
    } else if (char === "{") {
      i++;
      const selector = open ?? { name: undefined, labels: [] };
      if (open === undefined) selectors.push(selector);
      while (next() !== "}") {
        const label = read(IDENTIFIER) ?? fail("a label matcher");
        next();
        const operator = read(MATCH_OPERATOR) ?? fail(`the operator after ${label}`);
        next();
        if (!"\"'`".includes(expression.charAt(i)) || i >= expression.length) fail(`the value of ${label}`);
        const value = readString();
        if (label === "__name__" && operator === "=" && selector.name === undefined) selector.name = value;
        else selector.labels.push(label);
        next();
        if (expression.charAt(i) === ",") i++;
        else if (expression.charAt(i) !== "}") fail("the end of the label matchers");
      }
      i++;
      open = undefined;
    } else if (char === "[") {
      const end = expression.indexOf("]", i);
      if (end === -1) fail("the end of a range");
      i = end + 1;
      open = undefined;
    } else if (/[0-9.]/.test(char) && read(NUMBER) !== undefined) {
      open = undefined;
    } else if (/[A-Za-z_:]/.test(char)) {
      const word = read(IDENTIFIER) ?? "";
      next();
      const called = expression.charAt(i) === "(";
      const lower = word.toLowerCase();
      open = undefined;
      if (called && GROUPING.has(lower)) {
        i++;
        while (next() !== ")") {
          groupingLabels.push(read(IDENTIFIER) ?? fail(`a label of ${word}(…)`));
          next();
          if (expression.charAt(i) === ",") i++;
        }
        i++;
      } else if (!called && !KEYWORDS.has(lower)) {
        open = { name: word, labels: [] };
        selectors.push(open);
      }
    } else {
      i++;
      open = undefined;
    }
  }
  return { selectors, groupingLabels };
}

/**
 * What is wrong with one expression against the series it may read (`series`: name → its labels,
 * undefined where any known label goes, as for a recording rule's output): an unknown metric, a
 * selector without a metric name, a matcher or a grouping clause naming a label no metric has.
 */
export function problemsOf(expression: string, series: Map<string, Set<string> | undefined>): string[] {
  const allLabels = new Set([...series.values()].flatMap((labels) => [...(labels ?? [])]));
  const problems: string[] = [];
  let parts: ExpressionParts;
  try {
    parts = partsOf(expression);
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
  for (const { name, labels } of parts.selectors) {
    if (name === undefined) {
      problems.push("a selector without a metric name");
      continue;
    }
    if (!series.has(name)) {
      problems.push(`${name} is neither in README.md's metric table nor a recording rule`);
      continue;
    }
    const allowed = series.get(name) ?? allLabels;
    for (const label of labels.filter((l) => !allowed.has(l))) problems.push(`${name} has no label ${label}`);
  }
  for (const label of parts.groupingLabels.filter((l) => !allLabels.has(l))) {
    problems.push(`no metric has the label ${label} it groups by`);
  }
  return problems;
}

/** Grafana's built-in interval variables, replaced by a value of their kind for PromQL's sake. */
const GRAFANA_BUILTINS: Record<string, string> = {
  __rate_interval: "5m",
  __interval: "1m",
  __range: "1h",
  __interval_ms: "60000",
  __range_s: "3600",
  __range_ms: "3600000",
};

/**
 * A Grafana query as plain PromQL: `$var`, `${var}` and `${var:format}` become a value (a duration
 * for the interval built-ins, a placeholder inside the quotes for the dashboard's own variables).
 * Throws on a variable the dashboard does not define.
 */
export function grafanaToPromql(query: string, variables: Set<string>): string {
  return query.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (_, braced, bare, bracketed) => {
    const name: string = braced ?? bare ?? bracketed;
    const builtin = GRAFANA_BUILTINS[name];
    if (builtin !== undefined) return builtin;
    if (!variables.has(name)) throw new Error(`$${name} is not a variable of the dashboard`);
    return "variable";
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

/** The runbook's section of alerts, one `### <AlertName>` heading per alert under it. */
const RUNBOOK_ALERTS_HEADING = "## Alerts";

/**
 * What is wrong between the alert rules and docs/runbook.md: an alert without a `### <name>` section
 * under "## Alerts", a section there naming no alert, or a `runbook_url` that is not
 * `…docs/runbook.md#<the alert's own section>`. Empty when they agree.
 */
export function runbookProblems(
  alerts: { alert: string; runbookUrl: string | undefined }[],
  runbook: string,
): string[] {
  const lines = runbook.split("\n");
  const start = lines.findIndex((line) => line.trim() === RUNBOOK_ALERTS_HEADING);
  if (start === -1) return [`docs/runbook.md has no "${RUNBOOK_ALERTS_HEADING}" section`];
  const end = lines.findIndex((line, index) => index > start && /^#{1,2} /.test(line));
  const sections = lines
    .slice(start + 1, end === -1 ? undefined : end)
    .flatMap((line) => (/^### /.test(line) ? [line.replace(/^### /, "").trim()] : []));
  const names = new Set(alerts.map(({ alert }) => alert));
  const problems: string[] = [];
  for (const name of names) {
    if (!sections.includes(name)) problems.push(`${name}: no "### ${name}" section in docs/runbook.md's alerts`);
  }
  for (const section of sections.filter((heading) => !names.has(heading))) {
    problems.push(`docs/runbook.md's "### ${section}" names no alert of the rules`);
  }
  for (const { alert, runbookUrl } of alerts) {
    const anchor = /docs\/runbook\.md#([\w-]+)$/.exec(runbookUrl ?? "")?.[1];
    if (anchor !== anchorOf(alert)) {
      problems.push(`${alert}: runbook_url ${runbookUrl ?? "(none)"} is not docs/runbook.md#${anchorOf(alert)}`);
    }
  }
  return problems;
}

const RuleFile = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      rules: z.array(
        z.object({
          record: z.string().optional(),
          alert: z.string().optional(),
          expr: z.string(),
          for: z.string().optional(),
          labels: z.record(z.string(), z.string()).optional(),
          annotations: z.record(z.string(), z.string()).optional(),
        }),
      ),
    }),
  ),
});
type Rule = z.infer<typeof RuleFile>["groups"][number]["rules"][number];

const TestFile = z.object({
  tests: z.array(
    z.object({
      name: z.string().optional(),
      alert_rule_test: z
        .array(z.object({ alertname: z.string(), exp_alerts: z.array(z.unknown()).nullish() }))
        .optional(),
    }),
  ),
});

interface Panel {
  id?: number;
  title?: string;
  type?: string;
  datasource?: { uid?: string } | null;
  targets?: { expr?: string; refId?: string; datasource?: { uid?: string } | null }[];
  panels?: Panel[];
}
const PanelShape: z.ZodType<Panel> = z.lazy(() =>
  z.looseObject({
    id: z.number().optional(),
    title: z.string().optional(),
    type: z.string().optional(),
    datasource: z.looseObject({ uid: z.string().optional() }).nullish(),
    targets: z
      .array(
        z.looseObject({
          expr: z.string().optional(),
          refId: z.string().optional(),
          datasource: z.looseObject({ uid: z.string().optional() }).nullish(),
        }),
      )
      .optional(),
    panels: z.array(PanelShape).optional(),
  }),
);
const Dashboard = z.looseObject({
  title: z.string(),
  uid: z.string(),
  schemaVersion: z.number(),
  panels: z.array(PanelShape),
  templating: z.looseObject({
    list: z.array(
      z.looseObject({
        name: z.string(),
        type: z.string(),
        query: z.union([z.string(), z.looseObject({ query: z.string().optional() })]).optional(),
        datasource: z.looseObject({ uid: z.string().optional() }).nullish(),
      }),
    ),
  }),
});

const AlertmanagerConfig = z.looseObject({
  route: z.looseObject({ receiver: z.string() }),
  receivers: z.array(z.looseObject({ name: z.string() })),
  inhibit_rules: z.array(z.unknown()).optional(),
});

/** Where each severity must be routed (monitoring/alertmanager/alertmanager.yml). */
const RECEIVER_OF_SEVERITY: Record<string, string> = { critical: "pagerduty-critical", warning: "slack-warnings" };
/** Receiver fields that hold a secret: each must come from its `_file` twin instead. */
const SECRET_FIELDS = ["routing_key", "service_key", "api_url", "auth_password", "auth_secret", "api_key", "token"];
/** The oldest Grafana dashboard schema accepted (Grafana 11). */
const MIN_SCHEMA_VERSION = 39;

const INSTALL_HINT =
  "monitoring:check needs promtool, amtool and Alertmanager: `sudo apt-get install prometheus prometheus-alertmanager` (Debian/Ubuntu) or `brew install prometheus alertmanager` (macOS)";

interface Tools {
  promtool: string;
  amtool: string;
  alertmanager: string;
}

function findTools(): Tools | undefined {
  const extraDirs = ["/usr/bin", "/usr/local/bin"];
  const promtool = findBinary("promtool", { override: "PROMTOOL_BIN", extraDirs });
  const amtool = findBinary("amtool", { override: "AMTOOL_BIN", extraDirs });
  // Debian names the server prometheus-alertmanager; upstream and Homebrew, alertmanager.
  const alertmanager =
    findBinary("prometheus-alertmanager", { override: "ALERTMANAGER_BIN", extraDirs }) ??
    findBinary("alertmanager", { override: "ALERTMANAGER_BIN", extraDirs });
  return promtool && amtool && alertmanager ? { promtool, amtool, alertmanager } : undefined;
}

/**
 * Runs a tool; the outcome is its exit status and its output, stdout and stderr together, without
 * amtool's notice that a config file was given instead of a server's URL.
 */
function run(binary: string, args: string[], cwd: string): { ok: boolean; output: string } {
  const result = spawnSync(binary, args, { cwd, encoding: "utf8" });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`
    .split("\n")
    .filter((line) => !line.startsWith("Warning: --config.file flag overrides"))
    .join("\n")
    .trim();
  return { ok: result.status === 0, output };
}

const yamlFiles = (dir: string, suffix: string) =>
  readdirSync(dir)
    .filter((file) => file.endsWith(suffix))
    .sort()
    .map((file) => path.join(dir, file));

/** An alert posted to the throwaway Alertmanager, and whether an inhibition must mute it. */
interface InhibitionCase {
  labels: Record<string, string>;
  muted: boolean;
}

/**
 * Alerts as the rules raise them, together: each inhibition of alertmanager.yml mutes its target,
 * and nothing else is muted (an alert about another dependency or store stays).
 */
const INHIBITION_CASES: InhibitionCase[] = [
  { labels: { alertname: "TechCorpDependencyDown", severity: "critical", dependency: "postgres" }, muted: false },
  { labels: { alertname: "TechCorpDependencyErrors", severity: "warning", dependency: "postgres" }, muted: true },
  { labels: { alertname: "TechCorpDependencyErrors", severity: "warning", dependency: "s3" }, muted: false },
  { labels: { alertname: "TechCorpDependencyDown", severity: "warning", dependency: "redis" }, muted: false },
  { labels: { alertname: "TechCorpHighErrorRate", severity: "critical", job: "techcorp-api" }, muted: false },
  { labels: { alertname: "TechCorpHighLatency", severity: "warning", job: "techcorp-api" }, muted: true },
  { labels: { alertname: "TechCorpApiScrapeFailing", severity: "critical", job: "techcorp-api" }, muted: false },
  { labels: { alertname: "TechCorpHeartbeatAbsent", severity: "critical", worker: "processor" }, muted: true },
  // One alert at both severities for one subject: the warning goes, another subject's stays.
  { labels: { alertname: "TechCorpStorageNearlyFull", severity: "critical", store: "documents" }, muted: false },
  { labels: { alertname: "TechCorpStorageNearlyFull", severity: "warning", store: "documents" }, muted: true },
  { labels: { alertname: "TechCorpStorageNearlyFull", severity: "warning", store: "postgres" }, muted: false },
];

/**
 * Starts Alertmanager on a free loopback port with the configuration's routes and inhibitions but
 * receivers that send nothing (no page can leave a check), posts `INHIBITION_CASES` and returns the
 * cases whose muting differs from the expected, once they agree or after 10 s.
 */
async function checkInhibitions(binary: string, config: unknown): Promise<string[]> {
  const parsed = AlertmanagerConfig.parse(config);
  const silent = { ...parsed, receivers: parsed.receivers.map(({ name }) => ({ name })) };
  const dir = mkdtempSync(path.join(tmpdir(), "techcorp-alertmanager-"));
  const file = path.join(dir, "alertmanager.yml");
  writeFileSync(file, stringify(silent));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = createWriteStream(path.join(dir, "alertmanager.log"));
  const args = [
    `--config.file=${file}`,
    `--storage.path=${path.join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--cluster.listen-address=",
  ];
  const child: ChildProcess = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  try {
    await until(10_000, async () => (await fetch(`${base}/-/ready`)).ok, "Alertmanager to start");
    const posted = await fetch(`${base}/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(INHIBITION_CASES.map(({ labels }) => ({ labels }))),
    });
    if (!posted.ok) return [`posting the alerts: ${posted.status} ${await posted.text()}`];
    let wrong: string[] = [];
    const key = (labels: Record<string, string>) =>
      `{${Object.entries(labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, value]) => `${name}="${value}"`)
        .join(", ")}}`;
    const agree = async () => {
      const alerts = z
        .array(z.object({ labels: z.record(z.string(), z.string()), status: z.object({ state: z.string() }) }))
        .parse(await (await fetch(`${base}/api/v2/alerts`)).json());
      const state = new Map(alerts.map((alert) => [key(alert.labels), alert.status.state]));
      wrong = INHIBITION_CASES.filter(({ labels, muted }) => (state.get(key(labels)) === "suppressed") !== muted).map(
        ({ labels, muted }) =>
          `${key(labels)}: expected ${muted ? "muted" : "not muted"}, got ${state.get(key(labels))}`,
      );
      return wrong.length === 0;
    };
    await until(10_000, agree, "the inhibitions").catch(() => undefined);
    return wrong;
  } finally {
    await terminate(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(timeoutMs: number, condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The checks, in order; each prints one line, then what went wrong under it. Returns the failures. */
async function checkMonitoring(root: string, tools: Tools): Promise<number> {
  const monitoring = path.join(root, "monitoring");
  const rulesDir = path.join(monitoring, "prometheus", "rules");
  const testsDir = path.join(monitoring, "prometheus", "tests");
  const alertmanagerFile = path.join(monitoring, "alertmanager", "alertmanager.yml");
  const dashboardFile = path.join(monitoring, "grafana", "techcorp-platform.json");
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const rel = (file: string) => path.relative(root, file);
  let failures = 0;
  const report = (what: string, problems: string[]) => {
    console.log(`${problems.length === 0 ? "ok  " : "FAIL"} ${what}`);
    for (const problem of problems) console.log(`       ${problem.replaceAll("\n", "\n       ")}`);
    if (problems.length > 0) failures++;
  };
  const tool = (what: string, binary: string, args: string[]) => {
    const { ok, output } = run(binary, args, root);
    report(what, ok ? [] : [output]);
  };

  const ruleFiles = yamlFiles(rulesDir, ".yml");
  const testFiles = yamlFiles(testsDir, ".test.yml");
  tool(`promtool check rules (${ruleFiles.length} files)`, tools.promtool, ["check", "rules", ...ruleFiles.map(rel)]);
  tool(`promtool test rules (${testFiles.length} files)`, tools.promtool, ["test", "rules", ...testFiles.map(rel)]);

  const rules: (Rule & { file: string })[] = ruleFiles.flatMap((file) =>
    RuleFile.parse(parse(readFileSync(file, "utf8")))
      .groups.flatMap((group) => group.rules)
      .map((rule) => ({ ...rule, file: rel(file) })),
  );
  const alerts = rules.filter((rule) => rule.alert !== undefined);
  report(
    `${alerts.length} alert rules: a severity, a summary, a description and a runbook_url`,
    alerts.flatMap(({ alert, labels, annotations }) => {
      const problems: string[] = [];
      if (!labels?.severity || !(labels.severity in RECEIVER_OF_SEVERITY)) {
        problems.push(`${alert}: severity must be one of ${Object.keys(RECEIVER_OF_SEVERITY).join(", ")}`);
      }
      for (const field of ["summary", "description", "runbook_url"]) {
        if (!annotations?.[field]) problems.push(`${alert}: no ${field} annotation`);
      }
      return problems;
    }),
  );
  report(
    "every alert has its section in docs/runbook.md, its runbook_url points there, and every section names an alert",
    runbookProblems(
      alerts.map(({ alert, annotations }) => ({ alert: alert ?? "", runbookUrl: annotations?.runbook_url })),
      readFileSync(path.join(root, "docs", "runbook.md"), "utf8"),
    ),
  );

  const cases = testFiles.flatMap((file) =>
    TestFile.parse(parse(readFileSync(file, "utf8"))).tests.flatMap((test) => test.alert_rule_test ?? []),
  );
  report(
    "every alert has a unit test where it fires and one where it does not",
    [...new Set(alerts.map(({ alert }) => alert ?? ""))].flatMap((name) => {
      const own = cases.filter((c) => c.alertname === name);
      const problems: string[] = [];
      if (!own.some((c) => (c.exp_alerts ?? []).length > 0)) problems.push(`${name}: no test where it fires`);
      if (!own.some((c) => (c.exp_alerts ?? []).length === 0)) problems.push(`${name}: no test where it stays quiet`);
      return problems;
    }),
  );

  const catalog = readMetricTable(readme);
  report(
    `README.md's table names the ${CATALOG.length} metrics the code exports (src/pkg/metrics/catalog.ts), with their types and labels`,
    tableDrift(catalog, CATALOG),
  );
  const series = new Map<string, Set<string> | undefined>([
    ...seriesOf(catalog),
    ["up", new Set(TARGET_LABELS)],
    ...rules.flatMap((rule) => (rule.record ? [[rule.record, undefined] as const] : [])),
  ]);
  report(
    `the rules read only the ${catalog.length} metrics of README.md's table, up and the recording rules`,
    rules.flatMap((rule) =>
      problemsOf(rule.expr, series).map((p) => `${rule.file}: ${rule.alert ?? rule.record}: ${p}`),
    ),
  );

  let dashboard: z.infer<typeof Dashboard> | undefined;
  try {
    dashboard = Dashboard.parse(JSON.parse(readFileSync(dashboardFile, "utf8")));
    report(`${rel(dashboardFile)} is a Grafana dashboard`, []);
  } catch (error) {
    report(`${rel(dashboardFile)} is a Grafana dashboard`, [error instanceof Error ? error.message : String(error)]);
  }
  if (dashboard) {
    const variables = new Set(dashboard.templating.list.map((variable) => variable.name));
    const datasource = dashboard.templating.list.find((v) => v.type === "datasource" && v.query === "prometheus");
    const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
    const queries = panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        where: `panel ${panel.id} "${panel.title}" ${target.refId ?? ""}`.trim(),
        expr: target.expr ?? "",
        // Grafana takes the target's data source, else the panel's: both must be the variable.
        sources: [
          ...(panel.datasource ? [{ of: "the panel's", uid: panel.datasource.uid }] : []),
          ...(target.datasource ? [{ of: "the query's", uid: target.datasource.uid }] : []),
        ],
      })),
    );
    for (const variable of dashboard.templating.list.filter((v) => v.type === "query")) {
      const query = typeof variable.query === "string" ? variable.query : (variable.query?.query ?? "");
      // Grafana's label_values(metric, label): the metric part is PromQL.
      const metric = /^label_values\((.+),\s*\w+\)$/.exec(query.trim())?.[1] ?? query;
      const sources = variable.datasource ? [{ of: "its", uid: variable.datasource.uid }] : [];
      queries.push({ where: `variable $${variable.name}`, expr: metric, sources });
    }
    const layout: string[] = [];
    if (dashboard.schemaVersion < MIN_SCHEMA_VERSION) {
      layout.push(`schemaVersion ${dashboard.schemaVersion}: ${MIN_SCHEMA_VERSION} or later expected`);
    }
    if (!datasource) layout.push("no Prometheus data source variable");
    const expected = `\${${datasource?.name ?? "datasource"}}`;
    for (const { where, expr, sources } of queries) {
      if (expr.trim() === "") layout.push(`${where}: no query`);
      if (sources.length === 0) layout.push(`${where}: no data source, expected ${expected}`);
      for (const { of, uid } of sources.filter((source) => source.uid !== expected)) {
        layout.push(`${where}: ${of} data source is ${uid ?? "(no uid)"}, expected ${expected}`);
      }
    }
    report(`the dashboard: schema ${dashboard.schemaVersion}, ${queries.length} queries on ${expected}`, layout);

    const promql = queries.flatMap(({ where, expr }) => {
      try {
        return [{ where, expr: grafanaToPromql(expr, variables) }];
      } catch (error) {
        report(`${where} uses only the dashboard's variables`, [
          error instanceof Error ? error.message : String(error),
        ]);
        return [];
      }
    });
    // promtool parses the queries as recording rules of a scratch file: the syntax check it runs on the rules.
    const scratch = mkdtempSync(path.join(tmpdir(), "techcorp-dashboard-"));
    try {
      const records = promql.map(({ where, expr }, index) => ({ record: `dashboard:query_${index}`, expr, where }));
      const file = path.join(scratch, "dashboard.yml");
      const groups = [{ name: "dashboard", rules: records.map(({ record, expr }) => ({ record, expr })) }];
      writeFileSync(file, stringify({ groups }));
      const { ok, output } = run(tools.promtool, ["check", "rules", file], root);
      const named = new Set(output.match(/dashboard:query_\d+/g));
      const legend = records
        .filter(({ record }) => named.has(record))
        .map(({ record, where }) => `${record} is ${where}`);
      report("promtool parses every query of the dashboard", ok ? [] : [output, ...legend]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    report(
      "the dashboard reads only the metrics of README.md's table, up and the recording rules",
      promql.flatMap(({ where, expr }) => problemsOf(expr, series).map((p) => `${where}: ${p}`)),
    );
  }

  tool(`amtool check-config ${rel(alertmanagerFile)}`, tools.amtool, ["check-config", rel(alertmanagerFile)]);
  const config: unknown = parse(readFileSync(alertmanagerFile, "utf8"));
  const secrets: string[] = [];
  const visit = (value: unknown, where: string) => {
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) visit(item, `${where}[${index}]`);
    } else if (value !== null && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) {
        if (SECRET_FIELDS.includes(key)) secrets.push(`${where}.${key} is written inline: use ${key}_file`);
        visit(inner, `${where}.${key}`);
      }
    }
  };
  visit(config, "alertmanager.yml");
  report("no secret in alertmanager.yml (every one read from a file)", secrets);

  const routeCases = [
    ...alerts.map(({ alert, labels }) => ({ labels: { alertname: alert ?? "", severity: labels?.severity ?? "" } })),
    { labels: { alertname: "SomethingWithoutSeverity" } },
  ];
  report(
    `amtool config routes test: critical to ${RECEIVER_OF_SEVERITY.critical}, the rest to ${RECEIVER_OF_SEVERITY.warning} (${routeCases.length} alerts)`,
    routeCases.flatMap(({ labels }) => {
      const expected = RECEIVER_OF_SEVERITY[("severity" in labels && labels.severity) || "warning"] ?? "";
      const pairs = Object.entries(labels).map(([name, value]) => `${name}=${value}`);
      const args = [
        "config",
        "routes",
        "test",
        `--config.file=${rel(alertmanagerFile)}`,
        `--verify.receivers=${expected}`,
      ];
      const { ok, output } = run(tools.amtool, [...args, ...pairs], root);
      return ok ? [] : [`${pairs.join(" ")}: expected ${expected}, amtool says: ${output}`];
    }),
  );

  let inhibitions: string[];
  try {
    inhibitions = await checkInhibitions(tools.alertmanager, config);
  } catch (error) {
    inhibitions = [error instanceof Error ? error.message : String(error)];
  }
  report(`Alertmanager's inhibitions mute what they should (${INHIBITION_CASES.length} alerts)`, inhibitions);
  return failures;
}

if (import.meta.filename === path.resolve(process.argv[1] ?? "")) {
  const tools = findTools();
  if (tools === undefined) {
    console.error(INSTALL_HINT);
    process.exit(1);
  }
  const version = (binary: string) => /version (\S+)/.exec(run(binary, ["--version"], ".").output)?.[1] ?? "?";
  console.log(`promtool ${version(tools.promtool)}, amtool ${version(tools.amtool)}`);
  const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, ".."));
  try {
    const failures = await checkMonitoring(root, tools);
    if (failures > 0) {
      console.error(`monitoring:check: ${failures} check(s) failed`);
      process.exitCode = 1;
    } else {
      console.log("monitoring:check: the rules, their tests, the Alertmanager config and the dashboard agree");
    }
  } catch (error) {
    console.error(`monitoring:check: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
