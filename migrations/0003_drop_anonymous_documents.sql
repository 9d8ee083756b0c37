-- Documents now belong to a user. Uploads from before accounts existed (the foundation's
-- anonymous slice) have no owner and no version row; they are removed with their data. Their
-- stored objects stay behind in the bucket as unreferenced objects.
DELETE FROM "documents" WHERE "owner_id" IS NULL;
