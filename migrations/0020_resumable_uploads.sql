CREATE TABLE "upload_parts" (
	"upload_id" uuid NOT NULL,
	"part_number" integer NOT NULL,
	"size_bytes" integer NOT NULL,
	"etag" text NOT NULL,
	"sha256" char(64) NOT NULL,
	"leading_bytes" varchar(6) DEFAULT '' NOT NULL,
	"trailing_bytes" varchar(6) DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "upload_parts_upload_id_part_number_pk" PRIMARY KEY("upload_id","part_number"),
	CONSTRAINT "upload_parts_number_check" CHECK ("upload_parts"."part_number" between 1 and 10000)
);
--> statement-breakpoint
ALTER TABLE "upload_parts" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "uploads" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_id" uuid NOT NULL,
	"document_id" uuid NOT NULL,
	"storage_key" text NOT NULL,
	"multipart_upload_id" text NOT NULL,
	"filename" varchar(255),
	"content_type" varchar(255) NOT NULL,
	"size_bytes" bigint NOT NULL,
	"sha256" char(64) NOT NULL,
	"title" varchar(255) NOT NULL,
	"tags" text[] DEFAULT '{}' NOT NULL,
	"part_bytes" integer NOT NULL,
	"part_count" integer NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uploads_storage_key_unique" UNIQUE("storage_key"),
	CONSTRAINT "uploads_status_check" CHECK (status in ('open', 'completing', 'completed')),
	CONSTRAINT "uploads_size_check" CHECK ("uploads"."size_bytes" > 0),
	CONSTRAINT "uploads_parts_check" CHECK ("uploads"."part_bytes" > 0 and "uploads"."part_count" between 1 and 10000)
);
--> statement-breakpoint
ALTER TABLE "uploads" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "upload_parts" ADD CONSTRAINT "upload_parts_upload_id_uploads_id_fk" FOREIGN KEY ("upload_id") REFERENCES "public"."uploads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "uploads_owner_idx" ON "uploads" USING btree ("owner_id");--> statement-breakpoint
CREATE INDEX "uploads_expires_idx" ON "uploads" USING btree ("status","expires_at");--> statement-breakpoint
CREATE POLICY "upload_parts_owner" ON "upload_parts" AS PERMISSIVE FOR ALL TO public USING (exists (select 1 from uploads u where u.id = upload_id)) WITH CHECK (exists (select 1 from uploads u where u.id = upload_id));--> statement-breakpoint
CREATE POLICY "uploads_owner" ON "uploads" AS PERMISSIVE FOR ALL TO public USING ("uploads"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) = 'system') WITH CHECK ("uploads"."owner_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) = 'system');--> statement-breakpoint
-- As for every table (0002, 0005): the app's role owns these tables, so row-level security must be forced.
ALTER TABLE "uploads" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "upload_parts" FORCE ROW LEVEL SECURITY;
