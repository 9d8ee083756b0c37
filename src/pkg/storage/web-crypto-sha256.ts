/**
 * SHA-256 (and HMAC-SHA256 when given a secret) for the AWS SDK's request signing, on the
 * runtime's native WebCrypto. The SDK's own hash is much slower in workerd on large bodies: a
 * signed 32 MiB PUT took three times as long as an unsigned one. Data is kept until `digest()`
 * (WebCrypto has no incremental hashing); the SDK hands a body over in one `update`. It hashes
 * PutObject bodies (one part at most, `PART_BYTES`); multipart parts come with their hash taken
 * beforehand (storage.ts `upload`, multipart.ts `uploadPart`), which the signer uses instead.
 */
export class WebCryptoSha256 {
  private readonly secret: Uint8Array | undefined;
  private chunks: Uint8Array[] = [];

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret = secret === undefined ? undefined : toBytes(secret);
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.chunks.push(toBytes(data));
  }

  async digest(): Promise<Uint8Array> {
    const data = this.chunks.length === 1 ? (this.chunks[0] as Uint8Array) : concat(this.chunks);
    if (!this.secret) return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const key = await crypto.subtle.importKey("raw", this.secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
  }

  reset(): void {
    this.chunks = [];
  }
}

function toBytes(data: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
