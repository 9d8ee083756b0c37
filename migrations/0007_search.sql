CREATE TABLE "document_search" (
	"document_id" uuid PRIMARY KEY NOT NULL,
	"owner_id" uuid NOT NULL,
	"title" varchar(255) NOT NULL,
	"tags" text[] NOT NULL,
	"content_type" varchar(255) NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"searchable" boolean NOT NULL,
	"vector" "tsvector" NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "document_search" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "search_clicks" (
	"query_id" uuid NOT NULL,
	"document_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "search_clicks" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "search_queries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid,
	"query" varchar(500) NOT NULL,
	"filters" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"result_count" integer NOT NULL,
	"latency_ms" real NOT NULL,
	"cache_hit" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "search_queries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "search_vocabulary" (
	"term" varchar(64) NOT NULL,
	"kind" varchar(8) NOT NULL
);
--> statement-breakpoint
ALTER TABLE "search_vocabulary" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "document_search" ADD CONSTRAINT "document_search_document_id_documents_id_fk" FOREIGN KEY ("document_id") REFERENCES "public"."documents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "search_clicks" ADD CONSTRAINT "search_clicks_query_id_search_queries_id_fk" FOREIGN KEY ("query_id") REFERENCES "public"."search_queries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "search_clicks" ADD CONSTRAINT "search_clicks_document_id_documents_id_fk" FOREIGN KEY ("document_id") REFERENCES "public"."documents"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "search_queries" ADD CONSTRAINT "search_queries_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "document_search_vector_idx" ON "document_search" USING gin ("vector");--> statement-breakpoint
CREATE INDEX "document_search_tags_idx" ON "document_search" USING gin ("tags");--> statement-breakpoint
CREATE INDEX "document_search_title_trgm_idx" ON "document_search" USING gin (lower("title") gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "document_search_created_idx" ON "document_search" USING btree ("created_at" DESC NULLS LAST,"document_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "document_search_owner_idx" ON "document_search" USING btree ("owner_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "search_clicks_once_key" ON "search_clicks" USING btree ("query_id","document_id");--> statement-breakpoint
CREATE INDEX "search_queries_created_idx" ON "search_queries" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "search_queries_query_trgm_idx" ON "search_queries" USING gin ("query" gin_trgm_ops);--> statement-breakpoint
CREATE UNIQUE INDEX "search_vocabulary_key" ON "search_vocabulary" USING btree ("kind","term");--> statement-breakpoint
CREATE INDEX "search_vocabulary_trgm_idx" ON "search_vocabulary" USING gin ("term" gin_trgm_ops);--> statement-breakpoint
CREATE POLICY "document_search_read" ON "document_search" AS PERMISSIVE FOR SELECT TO public USING (true);--> statement-breakpoint
CREATE POLICY "document_search_insert" ON "document_search" AS PERMISSIVE FOR INSERT TO public WITH CHECK (exists (select 1 from documents d where d.id = document_id and (d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write'))));--> statement-breakpoint
CREATE POLICY "document_search_update" ON "document_search" AS PERMISSIVE FOR UPDATE TO public USING (exists (select 1 from documents d where d.id = document_id and (d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write')))) WITH CHECK (exists (select 1 from documents d where d.id = document_id and (d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write'))));--> statement-breakpoint
CREATE POLICY "document_search_delete" ON "document_search" AS PERMISSIVE FOR DELETE TO public USING (exists (select 1 from documents d where d.id = document_id and (d.owner_id = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from document_shares s where s.document_id = d.id and s.user_id = nullif(current_setting('app.user_id', true), '')::uuid and s.access = 'write'))));--> statement-breakpoint
CREATE POLICY "search_clicks_read" ON "search_clicks" AS PERMISSIVE FOR SELECT TO public USING (current_setting('app.role', true) in ('admin', 'system') or 'analytics:read' = any(string_to_array(current_setting('app.permissions', true), ',')) or exists (select 1 from search_queries q where q.id = "search_clicks"."query_id"));--> statement-breakpoint
CREATE POLICY "search_clicks_insert" ON "search_clicks" AS PERMISSIVE FOR INSERT TO public WITH CHECK (current_setting('app.role', true) in ('admin', 'system') or exists (select 1 from search_queries q where q.id = "search_clicks"."query_id" and q.user_id = nullif(current_setting('app.user_id', true), '')::uuid));--> statement-breakpoint
CREATE POLICY "search_queries_read" ON "search_queries" AS PERMISSIVE FOR SELECT TO public USING ("search_queries"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system') or 'analytics:read' = any(string_to_array(current_setting('app.permissions', true), ',')));--> statement-breakpoint
CREATE POLICY "search_queries_insert" ON "search_queries" AS PERMISSIVE FOR INSERT TO public WITH CHECK ("search_queries"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
CREATE POLICY "search_vocabulary_read" ON "search_vocabulary" AS PERMISSIVE FOR SELECT TO public USING (true);--> statement-breakpoint
CREATE POLICY "search_vocabulary_insert" ON "search_vocabulary" AS PERMISSIVE FOR INSERT TO public WITH CHECK (true);