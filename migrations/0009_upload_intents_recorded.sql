CREATE POLICY "upload_intents_recorded_read" ON "upload_intents" AS PERMISSIVE FOR SELECT TO public USING (exists (select 1 from document_versions v where v.storage_key = "upload_intents"."storage_key"));--> statement-breakpoint
CREATE POLICY "upload_intents_recorded" ON "upload_intents" AS PERMISSIVE FOR DELETE TO public USING (exists (select 1 from document_versions v where v.storage_key = "upload_intents"."storage_key"));--> statement-breakpoint

-- Repair what the bug left: an intent whose key a version (or a thumbnail) records belongs to a
-- finished upload, and the sweeper must never delete its object. Run as the system, since
-- row-level security is forced on the app role that applies migrations.
SELECT set_config('app.role', 'system', true);--> statement-breakpoint
DELETE FROM upload_intents i
 WHERE EXISTS (SELECT 1 FROM document_versions v WHERE v.storage_key = i.storage_key OR v.thumbnail_key = i.storage_key);
