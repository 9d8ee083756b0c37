-- A resumable upload may file its document in a project on completion (POST /uploads with projectId);
-- meanwhile its declared size counts against the project's quota. Purging the project removes it.
ALTER TABLE "uploads" ADD COLUMN "project_id" uuid;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "uploads_project_idx" ON "uploads" USING btree ("project_id") WHERE "uploads"."project_id" is not null;