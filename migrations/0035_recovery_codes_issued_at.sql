-- Recovery codes carry when they were handed out. Rows already enrolled keep null: their codes are
-- the old 50-bit ones, and GET /auth/mfa asks their holder to regenerate them.
ALTER TABLE "user_mfa" ADD COLUMN "recovery_codes_issued_at" timestamp with time zone;