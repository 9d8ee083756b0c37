CREATE TABLE "search_suppressed_queries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"phrase" varchar(200) NOT NULL,
	"reason" varchar(500),
	"suppressed_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "search_suppressed_queries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "search_suppressed_queries" ADD CONSTRAINT "search_suppressed_queries_suppressed_by_users_id_fk" FOREIGN KEY ("suppressed_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "search_suppressed_queries_phrase_key" ON "search_suppressed_queries" USING btree ("phrase");--> statement-breakpoint
CREATE POLICY "search_suppressed_queries_staff" ON "search_suppressed_queries" AS PERMISSIVE FOR ALL TO public USING (current_setting('app.role', true) in ('admin', 'system')) WITH CHECK (current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
-- As for every table (0002, 0005): the app's role owns it, so row-level security must be forced.
ALTER TABLE "search_suppressed_queries" FORCE ROW LEVEL SECURITY;
