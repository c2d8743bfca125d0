-- wi-counter on a shared PostgreSQL server: two roles (docs/security.md § 审计日志).
-- wi_counter_owner owns the schema and runs the migrations (`wi-counter db upgrade`, by IT);
-- wi_counter_app is what the counters log in as: it reads and writes the counter's tables but may only
-- INSERT and SELECT the audit trail, and, not owning it, cannot drop or disable its triggers.
-- Run as the server's superuser; replace the passwords (or use the site's own authentication).

-- 1. The roles and the database (once).
CREATE ROLE wi_counter_owner LOGIN PASSWORD 'change-me-owner';
CREATE ROLE wi_counter_app LOGIN PASSWORD 'change-me-app';
-- CREATE DATABASE wi_counter OWNER wi_counter_owner;   -- then connect to it for step 2

-- 2. In the database, as the superuser or wi_counter_owner, after `wi-counter --db <owner's URL> db upgrade`
--    (again after every upgrade that adds tables):
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO wi_counter_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO wi_counter_app;
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_event FROM wi_counter_app;
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM wi_counter_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO wi_counter_app;
