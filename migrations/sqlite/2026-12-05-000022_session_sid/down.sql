DROP INDEX sessions_sid_idx;
ALTER TABLE sessions DROP COLUMN sid;
