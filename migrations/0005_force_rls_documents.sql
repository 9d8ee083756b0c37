-- As for the user tables (0002): the app's role owns these tables, so row-level security must be forced.
ALTER TABLE "documents" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "document_versions" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "document_shares" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "document_content" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "upload_intents" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "notifications" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhooks" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" FORCE ROW LEVEL SECURITY;
