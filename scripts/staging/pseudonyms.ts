// Deterministic stand-ins for production values. Every value here is a function of the refresh's
// seed and a row's key (its id, its version), never of the value it replaces: a staging email or
// IP address cannot be checked against a guessed production one, even by someone who knows the
// seed. The two exceptions are said where they are made: a text keeps its word count, and a tag
// keeps its identity across documents (the same production tag gets the same stand-in).
import { createHash, createHmac } from "node:crypto";

/**
 * Filler vocabulary: ordinary English words with no meaning together, so that staging's search
 * stems, ranks and suggests on something that reads like text. 256 words, one per byte.
 */
export const FILLER_WORDS = (
  "account action answer area army autumn basket battle bell bicycle bird blanket boat bottle branch bread " +
  "brick bridge brother bucket building butter button cabin camera candle canvas carpet castle cattle chair " +
  "channel chapter cherry chimney circle city cloud coast coffee collar colour copper corner cotton country " +
  "crayon crowd curtain cushion dance desert desk diamond dinner doctor dragon drawer dream driver eagle " +
  "earth engine evening factory farmer feather fence field finger flower forest fountain frame garden gate " +
  "glass glove grain grass guitar hammer harbour harvest helmet hill history honey horizon hospital island " +
  "jacket journey kettle kingdom kitchen ladder lake lantern leather letter library light lizard machine " +
  "magnet marble market meadow metal minute mirror monkey morning motor mountain museum needle night north " +
  "ocean office orange orchard oven paint palace paper parcel pencil pepper piano picture pillow planet " +
  "pocket potato powder puzzle quarter rabbit railway rain record ribbon river road rocket roof saddle sail " +
  "salt sand school season shadow shelf shell shirt shoulder signal silver sister sky slope snow soap " +
  "soldier song south spoon spring square stable station steam stone storm story stream street summer sun " +
  "table tailor teacher theatre thread thunder ticket timber tomato tower town trail train tree trumpet " +
  "tunnel umbrella valley velvet village violin voyage wagon wall water wave weather wheel window winter " +
  "wire wolf wood wool worker yard yellow zebra anchor apple arrow badge bamboo barrel beacon blossom " +
  "bronze cabinet canyon cellar cloak compass crystal dolphin ember falcon ferry glacier granite harp " +
  "lemon maple nectar oyster pebble quilt raven sapphire tulip walnut willow acorn beetle"
).split(" ");

if (new Set(FILLER_WORDS).size !== 256 || FILLER_WORDS.length !== 256)
  throw new Error(`the filler vocabulary must have 256 distinct words, not ${FILLER_WORDS.length}`);

/** What a version's placeholder object holds, and how its row describes it. */
export interface Placeholder {
  key: string;
  body: Buffer;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  /** The file-name extension matching `contentType`. */
  extension: string;
}

/** Content types whose placeholder keeps the type: the filler is a valid file of that type. */
const TEXT_TYPES: Record<string, string> = { "text/plain": "txt", "text/markdown": "md", "text/html": "html" };

/** Counts whitespace-separated words, as the filler reproduces them. */
export function wordCount(text: string | null | undefined): number {
  const trimmed = (text ?? "").trim();
  return trimmed === "" ? 0 : trimmed.split(/\s+/u).length;
}

/**
 * The seed's stand-in generator. `hex(...parts)` is HMAC-SHA256 keyed by the seed over the parts
 * joined with NUL, in hexadecimal; everything else is built from it.
 */
export class Pseudonyms {
  readonly #key: Buffer;

  constructor(seed: string) {
    this.#key = createHash("sha256").update(`techcorp-staging-refresh:${seed}`).digest();
  }

  hex(...parts: (string | number)[]): string {
    return createHmac("sha256", this.#key).update(parts.join("\u0000")).digest("hex");
  }

  /** A user's handle, shared by their username and email so testers can tell who is who. */
  userHandle(userId: string): string {
    return `user-${this.hex("user", userId).slice(0, 12)}`;
  }

  /** `user-<12 hex>@example.invalid`: RFC 2606's reserved domain, so no mail ever leaves. */
  email(userId: string): string {
    return `${this.userHandle(userId)}@example.invalid`;
  }

  /**
   * `count` filler words drawn from an HMAC stream over `parts`: the same parts give the same
   * words. Lower-case, separated by single spaces; at least one word when `count` is positive.
   */
  words(count: number, ...parts: (string | number)[]): string {
    const out: string[] = [];
    for (let block = 0; out.length < count; block++) {
      const bytes = createHmac("sha256", this.#key)
        .update([...parts, "words", block].join("\u0000"))
        .digest();
      for (const byte of bytes) {
        if (out.length === count) break;
        out.push(FILLER_WORDS[byte] as string);
      }
    }
    return out.join(" ");
  }

  /** Filler with the word count of `original` (at least `min` words), capitalised like a title. */
  title(original: string, maxLength: number, ...parts: (string | number)[]): string {
    const text = this.words(Math.min(Math.max(wordCount(original), 1), 12), ...parts);
    return (text.charAt(0).toUpperCase() + text.slice(1)).slice(0, maxLength);
  }

  /** Filler with the word count of `original`; empty stays empty. */
  text(original: string, ...parts: (string | number)[]): string {
    return this.words(wordCount(original), ...parts);
  }

  /**
   * A tag's stand-in: a filler word and four hex digits. Derived from the tag itself (the one
   * place a stand-in depends on the original): documents sharing a tag in production share its
   * stand-in in staging, so tag filters and facets behave alike.
   */
  tag(original: string): string {
    const h = this.hex("tag", original.toLowerCase());
    return `${FILLER_WORDS[Number.parseInt(h.slice(0, 2), 16)]}-${h.slice(2, 6)}`;
  }

  /**
   * A documentation address (RFC 5737 for IPv4, RFC 3849 for IPv6) of the same family as
   * `original`, chosen by the row's key.
   */
  ip(original: string, ...parts: (string | number)[]): string {
    const h = this.hex("ip", ...parts);
    if (original.includes(":")) return `2001:db8::${h.slice(0, 4)}:${h.slice(4, 8)}`;
    const nets = ["192.0.2", "198.51.100", "203.0.113"];
    return `${nets[Number.parseInt(h.slice(0, 2), 16) % 3]}.${(Number.parseInt(h.slice(2, 4), 16) % 254) + 1}`;
  }

  /**
   * The object that stands in for one version's file: the version's filler text (the same words
   * as its extracted text in `document_content`, so a download and search agree). Text types keep
   * their type; any other type becomes `text/plain`, since a filler PDF or image would be a
   * different file anyway.
   */
  placeholder(documentId: string, version: number, words: number, originalType: string): Placeholder {
    const type = originalType.split(";")[0]?.trim().toLowerCase() ?? "";
    const extension = TEXT_TYPES[type];
    const contentType = extension ? type : "text/plain";
    const text = this.words(words, "text", documentId, version);
    const body = Buffer.from(contentType === "text/html" ? `<!doctype html>\n<p>${text}</p>\n` : `${text}\n`);
    return {
      key: `documents/${documentId}/staging-v${version}`,
      body,
      contentType,
      sizeBytes: body.byteLength,
      sha256: createHash("sha256").update(body).digest("hex"),
      extension: extension ?? "txt",
    };
  }
}

/** Versions without extracted text get a placeholder of this many words. */
export const WORDS_WITHOUT_TEXT = 40;
