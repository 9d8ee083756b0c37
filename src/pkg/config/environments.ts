/**
 * The deployed environments and the names of what each one owns. `development` (and `test`) run on
 * the local stack; `staging` and `production` are wrangler environments (`[env.staging]`,
 * `[env.production]` in both wrangler configs, written by `npm run environments`), each with its
 * own workers, queues, buckets, Durable Object namespaces (a worker's own) and database.
 *
 * Every deployed resource carries its environment's name as a suffix (wrangler's own convention for
 * worker names, `<name>-<environment>`), so a name tells which environment it belongs to: the
 * configuration refuses a bucket of another environment (src/pkg/config/config.ts), and the
 * deploy-time check (scripts/environments.ts) refuses any name two environments share.
 */
export const DEPLOYED_ENVIRONMENTS = ["staging", "production"] as const;
export type DeployedEnvironment = (typeof DEPLOYED_ENVIRONMENTS)[number];

/** Whether `environment` (an `ENVIRONMENT` value) is a deployed one, held to production's rules. */
export const isDeployed = (environment: string | undefined): environment is DeployedEnvironment =>
  (DEPLOYED_ENVIRONMENTS as readonly string[]).includes(environment ?? "");

/**
 * The names of a deployed environment's workers, buckets and queues (Cloudflare Queues names;
 * a dead-letter queue is its source queue's name and `-dlq`, which the processor reads to tell
 * them apart, workers/processor/index.ts).
 */
export function resourcesOf(environment: DeployedEnvironment) {
  const named = (base: string) => `${base}-${environment}`;
  return {
    apiWorker: named("techcorp-api"),
    processorWorker: named("techcorp-processor"),
    documentsBucket: named("techcorp-documents"),
    thumbnailsBucket: named("techcorp-thumbnails"),
    /** Where `npm run backup` writes this environment's backups (scripts/backup/config.ts). */
    backupsBucket: named("techcorp-backups"),
    queues: {
      documentEvents: named("document-events"),
      documentEventsDeadLetter: `${named("document-events")}-dlq`,
      notifications: named("notifications"),
      notificationsDeadLetter: `${named("notifications")}-dlq`,
    },
  };
}

/** The deployed environment whose bucket `bucket` is, if any. */
export function bucketOwner(bucket: string): DeployedEnvironment | undefined {
  return DEPLOYED_ENVIRONMENTS.find((environment) => {
    const resources = resourcesOf(environment);
    return bucket === resources.documentsBucket || bucket === resources.thumbnailsBucket;
  });
}
