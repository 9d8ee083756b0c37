/**
 * Reading the request body failed: the client's connection broke or was closed before the body
 * was complete (workerd reports it as `Network connection lost.`, a client's abort). Told apart by
 * where it happens (a read of a body wrapped by `requestBody`, or of the upload's `byteSource`
 * given this class as its error mapping), never by its message: it is the client's failure, which
 * `onError` answers with 400 `bad_request` and logs as a warning.
 */
export class RequestBodyError extends Error {
  constructor(cause: unknown) {
    super("the request body ended before it was complete", { cause });
    this.name = "RequestBodyError";
  }
}

/**
 * `body` read one chunk per read, as it comes (no chunk is read ahead), whose read errors become a
 * `RequestBodyError`; cancelling it cancels `body`. A JavaScript stream stage per chunk (workerd
 * hands a request body over in 4 KiB chunks): bulk readers use a BYOB reader instead
 * (`byteSource` in src/pkg/storage/storage.ts).
 */
export function requestBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          controller.error(new RequestBodyError(error));
          return;
        }
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
