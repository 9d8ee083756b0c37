-- Versions by their object: the upload intents' policies look a key up on every upload (it read
-- every version in the database), as do restores and the sweeper.
CREATE INDEX "document_versions_storage_key_idx" ON "document_versions" USING btree ("storage_key");