// A realistic, deterministic corpus for tests, benchmarks and local development: documents of
// varied length (log-normal, a few very long), topics with their own words and tags, English text
// with natural word frequencies (Zipf), owners of very different activity, some shared documents,
// three text formats and creation dates over two years. Document i depends only on the seed and i,
// so a 100k corpus starts with the 10k corpus of the same seed.

export interface CorpusOptions {
  seed: number;
  count: number;
  /** How many owners; by default one per 100 documents (at least 3). */
  users?: number;
}

export interface CorpusUser {
  index: number;
  username: string;
  email: string;
}

export type CorpusContentType = "text/plain" | "text/markdown" | "text/html";

export interface CorpusDocument {
  index: number;
  /** Stable across runs of the same seed (a UUID-shaped hash), so loading twice adds nothing. */
  id: string;
  ownerIndex: number;
  title: string;
  tags: string[];
  contentType: CorpusContentType;
  /** The file as uploaded, in its format. */
  body: string;
  /** Its text as the processor extracts it (paragraphs separated by blank lines). */
  text: string;
  createdAt: Date;
  shares: { userIndex: number; access: "read" | "write" }[];
}

/** Creation dates fall in the two years before this instant (fixed, so the corpus is too). */
export const CORPUS_EPOCH = Date.UTC(2026, 0, 1);
const TWO_YEARS_MS = 730 * 86_400_000;

// --- randomness ---

/** SplitMix32-style hash of the seed and a stream number: independent streams per document. */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Mulberry32: small, fast, good enough for synthetic data. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Rng = () => number;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

/** Index 0 most likely, then falling off as 1/(i+1)^s: how often words are used in real text. */
function zipfTable(size: number, s: number): number[] {
  const weights = Array.from({ length: size }, (_, i) => 1 / (i + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  let running = 0;
  return weights.map((w) => {
    running += w / total;
    return running;
  });
}

function zipfPick<T>(rng: Rng, items: readonly T[], table: number[]): T {
  const r = rng();
  let low = 0;
  let high = table.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((table[mid] ?? 1) < r) low = mid + 1;
    else high = mid;
  }
  return items[low] as T;
}

/** Standard normal by Box-Muller. */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function uuidFrom(seed: number, index: number): string {
  const words = [
    mix(seed, index * 4 + 1),
    mix(seed, index * 4 + 2),
    mix(seed, index * 4 + 3),
    mix(seed, index * 4 + 4),
  ];
  const hex = words.map((w) => w.toString(16).padStart(8, "0")).join("");
  // Shaped as a version 4 UUID (variant 10xx), which Postgres and zod accept.
  const variant = ((Number.parseInt(hex[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

// --- language ---

/** Everyday English, most frequent first. */
const COMMON = (
  "the of and to a in is that for it as was with be by on not he this are or his from at which but have an they you were " +
  "their one all we can her has there been if more when will would who so no time about new also people out up other " +
  "into only some could them than first may over year these two any most after use made work just where many way well " +
  "should our because each those through between such must team process plan number part during before while same " +
  "review following current based without within including however under several next change support level data " +
  "project report question result group system order point case need information important available possible " +
  "across clear early final further general likely local major recent similar specific total various whole " +
  "agreed asked began brought called continued decided expected found gave increased kept needed noted provided " +
  "received reported seemed showed started suggested turned used wanted"
).split(" ");

interface Topic {
  name: string;
  tags: string[];
  nouns: string[];
  words: string[];
  kinds: string[];
}

const TOPICS: Topic[] = [
  {
    name: "finance",
    tags: ["finance", "budget", "forecast", "audit", "tax", "invoices"],
    nouns: ["budget", "revenue", "forecast", "cash flow", "expenses", "margin", "audit", "payroll", "invoice"],
    words:
      "revenue budget forecast quarterly margin expenses invoice accounting ledger audit fiscal profit loss capital investment cash balance liabilities assets depreciation payroll reconciliation spending savings growth costs pricing billing accrual variance".split(
        " ",
      ),
    kinds: ["report", "review", "summary", "plan", "analysis", "statement"],
  },
  {
    name: "engineering",
    tags: ["engineering", "architecture", "backend", "frontend", "infrastructure", "incident"],
    nouns: ["api", "database", "deployment", "migration", "service", "pipeline", "cluster", "cache", "latency"],
    words:
      "deployment database migration latency throughput service endpoint request response cache queue worker cluster container kubernetes pipeline build release rollback incident outage monitoring logging tracing schema index query replication failover scaling".split(
        " ",
      ),
    kinds: ["design doc", "runbook", "postmortem", "proposal", "notes", "specification"],
  },
  {
    name: "people",
    tags: ["hr", "hiring", "onboarding", "benefits", "policy", "training"],
    nouns: ["hiring", "onboarding", "benefits", "performance", "training", "leave", "compensation", "interview"],
    words:
      "hiring candidate interview onboarding employee manager benefits compensation salary performance feedback training mentoring leave vacation policy handbook career promotion recruiting culture wellbeing diversity retention".split(
        " ",
      ),
    kinds: ["policy", "checklist", "guide", "handbook", "plan", "notes"],
  },
  {
    name: "legal",
    tags: ["legal", "contracts", "compliance", "privacy", "gdpr"],
    nouns: ["contract", "agreement", "compliance", "privacy", "license", "terms", "liability", "consent"],
    words:
      "contract agreement clause liability indemnity warranty termination confidentiality compliance regulation privacy consent license intellectual property jurisdiction dispute arbitration obligations parties signature amendment renewal breach".split(
        " ",
      ),
    kinds: ["agreement", "memo", "review", "policy", "draft", "summary"],
  },
  {
    name: "marketing",
    tags: ["marketing", "campaign", "brand", "social", "seo", "events"],
    nouns: ["campaign", "brand", "launch", "newsletter", "webinar", "conversion", "audience", "content"],
    words:
      "campaign brand audience launch newsletter webinar conversion funnel engagement social media content messaging positioning customers segment channel advertising impressions clicks leads promotion event sponsorship awareness".split(
        " ",
      ),
    kinds: ["brief", "plan", "report", "calendar", "proposal", "recap"],
  },
  {
    name: "sales",
    tags: ["sales", "customers", "pipeline", "renewals", "pricing"],
    nouns: ["pipeline", "quota", "deal", "renewal", "account", "pricing", "territory", "prospect"],
    words:
      "deal quota pipeline prospect account renewal churn discount pricing proposal negotiation customer territory forecast commission opportunity contract demo trial upsell retention enterprise partner".split(
        " ",
      ),
    kinds: ["forecast", "review", "playbook", "notes", "report", "plan"],
  },
  {
    name: "product",
    tags: ["product", "roadmap", "research", "design", "feedback"],
    nouns: ["roadmap", "feature", "prototype", "research", "usability", "requirements", "experiment", "feedback"],
    words:
      "roadmap feature prototype usability research interview persona requirements priority backlog milestone experiment metrics adoption retention onboarding workflow design wireframe feedback release beta launch".split(
        " ",
      ),
    kinds: ["requirements", "roadmap", "research notes", "spec", "proposal", "retrospective"],
  },
  {
    name: "operations",
    tags: ["operations", "facilities", "security", "vendors", "travel"],
    nouns: ["office", "vendor", "procurement", "security", "travel", "inventory", "logistics", "equipment"],
    words:
      "office facilities vendor procurement purchase equipment inventory logistics shipping travel booking security badge access maintenance supplier schedule lease utilities insurance safety inspection".split(
        " ",
      ),
    kinds: ["checklist", "procedure", "report", "request", "plan", "log"],
  },
];

const TEAMS = ["platform", "growth", "support", "design", "data", "mobile", "security", "finance", "sales", "legal"];
const commonTable = zipfTable(COMMON.length, 1.0);
const topicTables = new Map(TOPICS.map((topic) => [topic.name, zipfTable(topic.words.length, 0.8)]));

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

function title(rng: Rng, topic: Topic, created: Date): string {
  const year = created.getUTCFullYear();
  const quarter = Math.floor(created.getUTCMonth() / 3) + 1;
  const noun = pick(rng, topic.nouns);
  const kind = pick(rng, topic.kinds);
  const templates = [
    () => `${noun} ${kind}`,
    () => `Q${quarter} ${year} ${noun} ${kind}`,
    () => `${noun} ${kind} for the ${pick(rng, TEAMS)} team`,
    () => `${year} ${noun} ${kind}`,
    () => `Notes: ${noun} and ${pick(rng, topic.nouns)}`,
    () => `${pick(rng, TEAMS)} ${noun} ${kind} (v${1 + Math.floor(rng() * 4)})`,
  ];
  return capitalise(pick(rng, templates)());
}

function sentence(rng: Rng, topic: Topic, words: number): string {
  const table = topicTables.get(topic.name) ?? [];
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    // About a third of the words carry the topic; the rest is everyday English.
    out.push(rng() < 0.32 ? zipfPick(rng, topic.words, table) : zipfPick(rng, COMMON, commonTable));
  }
  return `${capitalise(out.join(" "))}.`;
}

/** Paragraphs totalling about `words` words. */
function paragraphs(rng: Rng, topic: Topic, words: number): string[] {
  const result: string[] = [];
  let left = words;
  while (left > 0) {
    const sentences: string[] = [];
    const size = Math.min(left, 40 + Math.floor(rng() * 120));
    let inParagraph = size;
    while (inParagraph > 0) {
      const length = Math.min(inParagraph, 6 + Math.floor(rng() * 18));
      sentences.push(sentence(rng, topic, length));
      inParagraph -= length;
    }
    result.push(sentences.join(" "));
    left -= size;
  }
  return result;
}

const escapeHtml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

function render(type: CorpusContentType, heading: string, parts: string[]): string {
  if (type === "text/markdown") return `# ${heading}\n\n${parts.join("\n\n")}\n`;
  if (type === "text/html") {
    const body = parts.map((p) => `<p>${escapeHtml(p)}</p>`).join("\n");
    return `<!doctype html>\n<html><head><title>${escapeHtml(heading)}</title></head><body>\n<h1>${escapeHtml(heading)}</h1>\n${body}\n</body></html>\n`;
  }
  return `${parts.join("\n\n")}\n`;
}

// --- the corpus ---

export function corpusUsers(options: CorpusOptions): CorpusUser[] {
  const count = options.users ?? Math.max(3, Math.ceil(options.count / 100));
  return Array.from({ length: count }, (_, index) => {
    const username = `corpus-${options.seed}-${index}`;
    return { index, username, email: `${username}@corpus.example.com` };
  });
}

/** Document `index` of the corpus of `seed` with `userCount` owners. */
export function corpusDocument(seed: number, index: number, userCount: number): CorpusDocument {
  const rng = random(mix(seed, index));
  const topic = pick(rng, TOPICS);
  const createdAt = new Date(CORPUS_EPOCH - Math.floor(rng() * TWO_YEARS_MS));
  const heading = title(rng, topic, createdAt);
  // Log-normal length: median ~180 words, one in fifty above ~2,000, capped at 30,000.
  const words = Math.max(5, Math.min(30_000, Math.round(Math.exp(Math.log(180) + 1.05 * normal(rng)))));
  const parts = paragraphs(rng, topic, words);
  const roll = rng();
  const contentType: CorpusContentType = roll < 0.5 ? "text/plain" : roll < 0.85 ? "text/markdown" : "text/html";
  const tags = new Set<string>([topic.name]);
  const extra = Math.floor(rng() * 4);
  for (let i = 0; i < extra; i++) tags.add(pick(rng, topic.tags));
  if (rng() < 0.3) tags.add(String(createdAt.getUTCFullYear()));
  // A few people own most documents.
  const ownerIndex = Math.min(userCount - 1, Math.floor(userCount * rng() ** 2));
  const shares: CorpusDocument["shares"] = [];
  if (userCount > 1 && rng() < 0.08) {
    const with_ = 1 + Math.floor(rng() * 2);
    for (let i = 0; i < with_; i++) {
      const userIndex = Math.floor(rng() * userCount);
      if (userIndex !== ownerIndex && !shares.some((s) => s.userIndex === userIndex)) {
        shares.push({ userIndex, access: rng() < 0.8 ? "read" : "write" });
      }
    }
  }
  return {
    index,
    id: uuidFrom(seed, index),
    ownerIndex,
    title: heading,
    tags: [...tags],
    contentType,
    body: render(contentType, heading, parts),
    text: contentType === "text/plain" ? parts.join("\n\n") : [heading, ...parts].join("\n\n"),
    createdAt,
    shares,
  };
}

/** The documents of a corpus, one at a time (100k documents never need to be in memory at once). */
export function* corpusDocuments(options: CorpusOptions, from = 0): Generator<CorpusDocument> {
  const userCount = corpusUsers(options).length;
  for (let index = from; index < options.count; index++) yield corpusDocument(options.seed, index, userCount);
}
