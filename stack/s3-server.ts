// Runs s3rver in a process of its own: its listing pagination encrypts continuation tokens with
// DES, which Node only allows under --openssl-legacy-provider (see stack/s3.ts).
import S3rver from "s3rver";

const config = JSON.parse(process.argv[2] ?? "{}") as { port: number; directory: string; buckets: string[] };

const server = new S3rver({
  address: "127.0.0.1",
  port: config.port,
  directory: config.directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: config.buckets.map((name) => ({ name, configs: [] })),
});

await server.run();
process.send?.({ ready: true });

const shutdown = () => server.close(() => process.exit(0));
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("disconnect", shutdown);
