-- A stable id of each broker session (SPEC §7.3 `sid`): random, made at sign-in, carried
-- across session-key renewals (account switch), so OP tokens can name the session and end
-- with it. Copied from the session state on every write.
ALTER TABLE sessions ADD COLUMN sid TEXT;
CREATE INDEX sessions_sid_idx ON sessions(sid);
