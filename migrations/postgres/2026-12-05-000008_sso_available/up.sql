-- Whether the operator offers SSO to the account (SPEC §3.5 "Offered by the operator").
-- NULL: the installation default (SSO_BROKER_SSO_AVAILABLE_BY_DEFAULT), so changing the
-- default reaches every account the operator never decided on.
ALTER TABLE accounts ADD COLUMN sso_available BOOLEAN;
