CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"project_id" uuid,
	"name" varchar(100) NOT NULL,
	"scopes" text[] NOT NULL,
	"secret_hash" varchar(64) NOT NULL,
	"last_characters" varchar(8) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoked_by" uuid,
	"last_used_at" timestamp with time zone,
	"last_used_ip" varchar(64),
	CONSTRAINT "api_keys_secret_hash_unique" UNIQUE("secret_hash"),
	CONSTRAINT "api_keys_expiry_check" CHECK ("api_keys"."expires_at" > "api_keys"."created_at"),
	CONSTRAINT "api_keys_scopes_check" CHECK (cardinality("api_keys"."scopes") between 1 and 16)
);
--> statement-breakpoint
ALTER TABLE "api_keys" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_user_created_idx" ON "api_keys" USING btree ("user_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE POLICY "documents_key_project" ON "documents" AS RESTRICTIVE FOR ALL TO public USING (nullif(current_setting('app.project_id', true), '')::uuid is null or "documents"."project_id" = nullif(current_setting('app.project_id', true), '')::uuid) WITH CHECK (nullif(current_setting('app.project_id', true), '')::uuid is null or "documents"."project_id" = nullif(current_setting('app.project_id', true), '')::uuid);--> statement-breakpoint
CREATE POLICY "api_keys_owner_or_staff" ON "api_keys" AS PERMISSIVE FOR ALL TO public USING ("api_keys"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system')) WITH CHECK ("api_keys"."user_id" = nullif(current_setting('app.user_id', true), '')::uuid or current_setting('app.role', true) in ('admin', 'system'));--> statement-breakpoint
ALTER TABLE "api_keys" FORCE ROW LEVEL SECURITY;
