-- Event-like tables that only grow become partitioned by month (RANGE on their timestamp), so the
-- sweeper drops a whole month past its retention instead of deleting row by row
-- (src/processor/partitions.ts). drizzle-kit does not declare partitioning: the schema files carry
-- the columns, keys and policies (src/db/schema/search.ts, notifications.ts, audit.ts) and this file
-- the partitioning itself. A partitioned table's primary key and unique indexes must contain its
-- partition key, and a foreign key to it must name that whole key: search_clicks and
-- webhook_deliveries gain their parent's timestamp and are partitioned on it, so a search and its
-- clicks, a notification and its deliveries, share a month. The app reads a notification's key and
-- writes it back (a delivery's reference, its updates): that timestamp is kept in milliseconds, as
-- a JavaScript Date holds it.
--
-- Every table gets a DEFAULT partition for rows outside the months made (a back-dated row, a clock
-- far off); normally it stays empty. Month partitions have row-level security enabled and forced
-- with no policy: read through the parent, the parent's policies apply (PostgreSQL applies only the
-- policies of the table a query names); read directly, nothing. The DEFAULT partitions have one
-- policy for the system, which the sweeper uses to clear expired stragglers.
SELECT set_config('app.role', 'system', true);--> statement-breakpoint
CREATE FUNCTION "create_month_partition"("parent" regclass, "within" timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
-- Creates the partition of `parent` for the UTC month holding `within`, named
-- <parent>_pYYYYMM, with row-level security enabled and forced. Returns 'created', 'exists', or
-- 'blocked' when the DEFAULT partition holds rows of that month (PostgreSQL would refuse the new
-- partition; they stay where they are until the retention removes them).
DECLARE
  month_start timestamp := date_trunc('month', "within" AT TIME ZONE 'UTC');
  lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
  upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
  parent_schema name;
  parent_name name;
  partition_name text;
  key_column name;
  held boolean;
BEGIN
  SELECT n.nspname, c.relname INTO parent_schema, parent_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = "parent";
  partition_name := parent_name || '_p' || to_char(month_start, 'YYYYMM');
  IF to_regclass(format('%I.%I', parent_schema, partition_name)) IS NOT NULL THEN
    RETURN 'exists';
  END IF;
  SELECT a.attname INTO key_column
    FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
   WHERE p.partrelid = "parent";
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I >= $1 AND %I < $2)',
                 parent_schema, parent_name || '_default', key_column, key_column)
     INTO held USING lower_bound, upper_bound;
  IF held THEN
    RETURN 'blocked';
  END IF;
  EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                 parent_schema, partition_name, parent_schema, parent_name, lower_bound, upper_bound);
  EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', parent_schema, partition_name);
  EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', parent_schema, partition_name);
  RETURN 'created';
END
$$;--> statement-breakpoint
-- The new tables are built beside the old ones, in a schema of their own so that every name
-- (constraints, the identity sequence) is final, then moved into public once the old are gone.
CREATE SCHEMA "repartition";--> statement-breakpoint
CREATE TABLE "repartition"."search_queries" (
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid,
	"query" varchar(500) NOT NULL,
	"filters" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"result_count" integer NOT NULL,
	"latency_ms" real NOT NULL,
	"cache_hit" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "search_queries_id_created_at_pk" PRIMARY KEY ("id", "created_at")
) PARTITION BY RANGE ("created_at");--> statement-breakpoint
CREATE TABLE "repartition"."search_clicks" (
	"query_id" uuid NOT NULL,
	"query_created_at" timestamp with time zone NOT NULL,
	"document_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
) PARTITION BY RANGE ("query_created_at");--> statement-breakpoint
CREATE TABLE "repartition"."notifications" (
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"type" varchar(64) NOT NULL,
	"title" varchar(255) NOT NULL,
	"body" text NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"event_id" uuid NOT NULL,
	"read_at" timestamp with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notifications_id_created_at_pk" PRIMARY KEY ("id", "created_at")
) PARTITION BY RANGE ("created_at");--> statement-breakpoint
CREATE TABLE "repartition"."webhook_deliveries" (
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"webhook_id" uuid NOT NULL,
	"notification_id" uuid NOT NULL,
	"notification_created_at" timestamp (3) with time zone NOT NULL,
	"status" varchar(16) DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"response_status" integer,
	"last_error" text,
	"delivered_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_deliveries_id_notification_created_at_pk" PRIMARY KEY ("id", "notification_created_at"),
	CONSTRAINT "webhook_deliveries_status_check" CHECK (status in ('pending', 'delivered', 'failed'))
) PARTITION BY RANGE ("notification_created_at");--> statement-breakpoint
CREATE TABLE "repartition"."audit_events" (
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "repartition"."audit_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	"action" varchar(64) NOT NULL,
	"outcome" varchar(16) DEFAULT 'success' NOT NULL,
	"actor_id" uuid,
	"target_user_id" uuid,
	"ip" varchar(64),
	"user_agent" varchar(512),
	"request_id" varchar(128),
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "audit_events_id_occurred_at_pk" PRIMARY KEY ("id", "occurred_at"),
	CONSTRAINT "audit_events_outcome_check" CHECK ("outcome" in ('success', 'failure')),
	CONSTRAINT "audit_events_details_size_check" CHECK (jsonb_typeof(details) = 'object' and octet_length(details::text) <= 4096)
) PARTITION BY RANGE ("occurred_at");--> statement-breakpoint
DO $$
DECLARE
  parent text;
BEGIN
  FOREACH parent IN ARRAY ARRAY['search_queries', 'search_clicks', 'notifications', 'webhook_deliveries', 'audit_events'] LOOP
    EXECUTE format('CREATE TABLE "repartition".%I PARTITION OF "repartition".%I DEFAULT', parent || '_default', parent);
    EXECUTE format('ALTER TABLE "repartition".%I ENABLE ROW LEVEL SECURITY', parent || '_default');
    EXECUTE format('ALTER TABLE "repartition".%I FORCE ROW LEVEL SECURITY', parent || '_default');
    EXECUTE format('CREATE POLICY %I ON "repartition".%I AS PERMISSIVE FOR ALL TO public USING (current_setting(''app.role'', true) = ''system'') WITH CHECK (current_setting(''app.role'', true) = ''system'')',
                   parent || '_default_system', parent || '_default');
  END LOOP;
END
$$;--> statement-breakpoint
-- A month for every month holding rows, and this month and the next three: a child table's months
-- are its parent's (its key is the parent's timestamp).
SELECT "create_month_partition"('"repartition"."search_queries"', month),
       "create_month_partition"('"repartition"."search_clicks"', month)
  FROM (SELECT DISTINCT date_trunc('month', "created_at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month FROM "public"."search_queries"
        UNION SELECT generate_series(now(), now() + interval '3 months', interval '1 month')) AS months;--> statement-breakpoint
SELECT "create_month_partition"('"repartition"."notifications"', month),
       "create_month_partition"('"repartition"."webhook_deliveries"', month)
  FROM (SELECT DISTINCT date_trunc('month', "created_at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month FROM "public"."notifications"
        UNION SELECT generate_series(now(), now() + interval '3 months', interval '1 month')) AS months;--> statement-breakpoint
SELECT "create_month_partition"('"repartition"."audit_events"', month)
  FROM (SELECT DISTINCT date_trunc('month', "occurred_at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month FROM "public"."audit_events"
        UNION SELECT generate_series(now(), now() + interval '3 months', interval '1 month')) AS months;--> statement-breakpoint
INSERT INTO "repartition"."search_queries" SELECT "id", "user_id", "query", "filters", "result_count", "latency_ms", "cache_hit", "created_at" FROM "public"."search_queries";--> statement-breakpoint
INSERT INTO "repartition"."search_clicks" ("query_id", "query_created_at", "document_id", "position", "created_at")
  SELECT k."query_id", q."created_at", k."document_id", k."position", k."created_at"
    FROM "public"."search_clicks" k JOIN "public"."search_queries" q ON q."id" = k."query_id";--> statement-breakpoint
INSERT INTO "repartition"."notifications" SELECT "id", "user_id", "type", "title", "body", "data", "event_id", "read_at", "created_at" FROM "public"."notifications";--> statement-breakpoint
INSERT INTO "repartition"."webhook_deliveries"
  SELECT d."id", d."webhook_id", d."notification_id", n."created_at", d."status", d."attempts", d."response_status", d."last_error", d."delivered_at", d."created_at", d."updated_at"
    FROM "public"."webhook_deliveries" d JOIN "public"."notifications" n ON n."id" = d."notification_id";--> statement-breakpoint
INSERT INTO "repartition"."audit_events" OVERRIDING SYSTEM VALUE
  SELECT "id", "occurred_at", "action", "outcome", "actor_id", "target_user_id", "ip", "user_agent", "request_id", "details" FROM "public"."audit_events";--> statement-breakpoint
SELECT setval('"repartition"."audit_events_id_seq"', coalesce((SELECT max("id") FROM "repartition"."audit_events"), 0) + 1, false);--> statement-breakpoint
DROP TABLE "public"."search_clicks", "public"."search_queries", "public"."webhook_deliveries", "public"."notifications", "public"."audit_events";--> statement-breakpoint
DO $$
DECLARE
  moved record;
BEGIN
  -- Parents and partitions alike (the identity sequence and every index go with their table).
  FOR moved IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'repartition' AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('ALTER TABLE "repartition".%I SET SCHEMA "public"', moved.relname);
  END LOOP;
END
$$;--> statement-breakpoint
DROP SCHEMA "repartition";--> statement-breakpoint
ALTER TABLE "search_queries" ADD CONSTRAINT "search_queries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "search_clicks" ADD CONSTRAINT "search_clicks_query_fk" FOREIGN KEY ("query_id","query_created_at") REFERENCES "public"."search_queries"("id","created_at") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "search_clicks" ADD CONSTRAINT "search_clicks_document_id_documents_id_fk" FOREIGN KEY ("document_id") REFERENCES "public"."documents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_webhooks_id_fk" FOREIGN KEY ("webhook_id") REFERENCES "public"."webhooks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_notification_fk" FOREIGN KEY ("notification_id","notification_created_at") REFERENCES "public"."notifications"("id","created_at") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "search_queries_created_idx" ON "search_queries" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "search_queries_query_trgm_idx" ON "search_queries" USING gin ("query" gin_trgm_ops);--> statement-breakpoint
CREATE UNIQUE INDEX "search_clicks_once_key" ON "search_clicks" USING btree ("query_id","document_id","query_created_at");--> statement-breakpoint
CREATE INDEX "notifications_user_created_idx" ON "notifications" USING btree ("user_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "notifications_event_user_idx" ON "notifications" USING btree ("event_id","user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_once_key" ON "webhook_deliveries" USING btree ("webhook_id","notification_id","notification_created_at");--> statement-breakpoint
CREATE INDEX "audit_events_target_idx" ON "audit_events" USING btree ("target_user_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_events_actor_idx" ON "audit_events" USING btree ("actor_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_events_action_idx" ON "audit_events" USING btree ("action","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_events_occurred_idx" ON "audit_events" USING btree ("occurred_at");--> statement-breakpoint
ALTER TABLE "search_queries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_queries" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_clicks" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_clicks" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "notifications" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "notifications" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "audit_events" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "audit_events" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "search_queries_read" ON "search_queries" AS PERMISSIVE FOR SELECT TO public USING ("search_queries"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or 'analytics:read' = any(string_to_array(current_setting('app.permissions', true), ',')));--> statement-breakpoint
CREATE POLICY "search_queries_insert" ON "search_queries" AS PERMISSIVE FOR INSERT TO public WITH CHECK ("search_queries"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "search_clicks_read" ON "search_clicks" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or 'analytics:read' = any(string_to_array(current_setting('app.permissions', true), ',')) or exists (select 1 from search_queries q where q.id = "search_clicks"."query_id" and q.created_at = "search_clicks"."query_created_at"));--> statement-breakpoint
CREATE POLICY "search_clicks_insert" ON "search_clicks" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from search_queries q where q.id = "search_clicks"."query_id" and q.created_at = "search_clicks"."query_created_at" and q.user_id = nullif(current_setting('app.user_id', true), '')::uuid));--> statement-breakpoint
CREATE POLICY "notifications_read" ON "notifications" AS PERMISSIVE FOR SELECT TO public USING ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_update" ON "notifications" AS PERMISSIVE FOR UPDATE TO public USING ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system')) WITH CHECK ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_insert" ON "notifications" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "notifications_delete" ON "notifications" AS PERMISSIVE FOR DELETE TO public USING ("notifications"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "webhook_deliveries_read" ON "webhook_deliveries" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from webhooks w where w.id = "webhook_deliveries"."webhook_id"));--> statement-breakpoint
CREATE POLICY "webhook_deliveries_write" ON "webhook_deliveries" AS PERMISSIVE FOR ALL TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "audit_events_read" ON "audit_events" AS PERMISSIVE FOR SELECT TO public USING ("audit_events"."target_user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "audit_events_insert" ON "audit_events" AS PERMISSIVE FOR INSERT TO public WITH CHECK ("audit_events"."actor_id" is not distinct from nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "audit_events_delete" ON "audit_events" AS PERMISSIVE FOR DELETE TO public USING (current_setting('app.role', true) = 'system');
