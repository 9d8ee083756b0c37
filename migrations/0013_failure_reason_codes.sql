-- Users see a stable reason code (failure_reason); what happened exactly moves to failure_detail,
-- which only operators read (OWASP API8:2023). Existing free-text reasons become the detail.
ALTER TABLE "document_versions" ADD COLUMN "failure_detail" text;--> statement-breakpoint
SELECT set_config('app.role', 'system', true);--> statement-breakpoint
UPDATE "document_versions"
SET "failure_detail" = "failure_reason",
  "failure_reason" = CASE "status" WHEN 'quarantined' THEN 'malware_detected' WHEN 'failed' THEN 'processing_failed' END
WHERE "failure_reason" IS NOT NULL;--> statement-breakpoint
UPDATE "documents"
SET "failure_reason" = CASE "status" WHEN 'quarantined' THEN 'malware_detected' WHEN 'failed' THEN 'processing_failed' END
WHERE "failure_reason" IS NOT NULL;--> statement-breakpoint
-- Notifications already stored carried the free text in their body and data (and so in webhooks).
UPDATE "notifications"
SET "data" = jsonb_set("data", '{reason}', to_jsonb(CASE "type" WHEN 'document.quarantined' THEN 'malware_detected' ELSE 'processing_failed' END)),
  "body" = CASE "type"
    WHEN 'document.quarantined' THEN 'Version ' || coalesce("data"->>'version', '?') || ' was quarantined: it contains malware and will not be served.'
    ELSE 'Version ' || coalesce("data"->>'version', '?') || ' could not be processed: processing did not succeed; uploading it again or asking support may help.'
  END
WHERE "type" IN ('document.failed', 'document.quarantined') AND "data" ? 'reason';--> statement-breakpoint
ALTER TABLE "document_versions" ADD CONSTRAINT "document_versions_failure_reason_check" CHECK (failure_reason in ('malware_detected', 'file_too_large', 'file_too_complex', 'unsupported_content', 'processing_failed'));--> statement-breakpoint
ALTER TABLE "documents" ADD CONSTRAINT "documents_failure_reason_check" CHECK (failure_reason in ('malware_detected', 'file_too_large', 'file_too_complex', 'unsupported_content', 'processing_failed'));
