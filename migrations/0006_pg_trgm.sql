-- Trigram matching for typo-tolerant suggestions. pg_trgm is a trusted extension: the database's
-- owner (the app's role here, as on Neon) may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
