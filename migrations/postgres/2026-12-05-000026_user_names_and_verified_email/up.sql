-- SPEC §7.3: the `profile` scope's given_name and family_name, as the user's IdP sent them at
-- an SSO sign-in (SAML givenname/surname, Entra given_name/family_name), and `email_verified`
-- for an email confirmed through an invitation (an IdP's word is the user's identity link).
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
