/** A response body longer than the reader allows; `limitBytes` is the limit it broke. */
export class BodyTooLargeError extends Error {
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(`the response body exceeds ${limitBytes} bytes`);
    this.name = "BodyTooLargeError";
    this.limitBytes = limitBytes;
  }
}

/**
 * Reads at most `limitBytes` of `response`'s body as UTF-8 text, streaming: a peer that sends more
 * (or announces more in Content-Length) is cut off with `BodyTooLargeError` and the rest is
 * cancelled, never buffered — a Worker has 128 MB, and a body from someone else's server is not
 * ours to trust (OWASP API10:2023, unsafe consumption of APIs). Rejects with what the stream
 * rejects with (a reset connection, an aborted signal).
 */
export async function readBoundedText(response: Response, limitBytes: number): Promise<string> {
  const announced = Number(response.headers.get("content-length") ?? Number.NaN);
  if (announced > limitBytes) {
    await response.body?.cancel();
    throw new BodyTooLargeError(limitBytes);
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    read += value.byteLength;
    if (read > limitBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(limitBytes);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
