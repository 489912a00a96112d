// @generated automatically by Diesel CLI.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        parent_id -> Nullable<Text>,
        created_at -> Timestamp,
        sso_available -> Nullable<Bool>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    approved_tenants (id) {
        id -> Text,
        account_id -> Text,
        tenant_id -> Text,
        display_name -> Text,
        verified_domains -> Text,
        status -> Text,
        approved_at -> Timestamp,
        last_checked_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        request_id -> Nullable<Text>,
        actor -> Text,
        account_id -> Nullable<Text>,
        action -> Text,
        outcome -> Text,
        reason -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    connections (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        settings -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    domains (id) {
        id -> Text,
        account_id -> Text,
        domain -> Text,
        verified -> Bool,
        verification_token -> Text,
        verified_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    entra_key_sets (tenant_id) {
        tenant_id -> Text,
        jwks -> Text,
        fetched_at -> Timestamp,
        refreshed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    identity_links (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        issuer -> Text,
        subject -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        account_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_flows (id) {
        id -> Text,
        kind -> Text,
        account_id -> Nullable<Text>,
        payload -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    memberships (user_id, account_id) {
        user_id -> Text,
        account_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    oidc_authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        nonce -> Nullable<Text>,
        scope -> Text,
        user_id -> Text,
        account_id -> Text,
        sid -> Text,
        auth_time -> Timestamp,
        sign_in -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oidc_authorization_requests (id_hash) {
        id_hash -> Text,
        client_id -> Text,
        request -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    oidc_backchannel_logouts (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        logout_uri -> Text,
        reason -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        abandoned_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    oidc_clients (id) {
        id -> Text,
        name -> Text,
        client_type -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        accounts -> Text,
        secret_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    oidc_refresh_families (id) {
        id -> Text,
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        account_id -> Text,
        sid -> Text,
        scope -> Text,
        offline_access -> Bool,
        auth_time -> Timestamp,
        sign_in -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    oidc_refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        created_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oidc_signing_keys (kid) {
        kid -> Text,
        generation -> BigInt,
        algorithm -> Text,
        public_jwk -> Text,
        private_key_sealed -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        published_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        to_address -> Text,
        subject -> Text,
        body_text -> Text,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        attempts -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    saml_replays (assertion_key) {
        assertion_key -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        sid -> Nullable<Text>,
    }
}

diesel::table! {
    sso_settings (account_id) {
        account_id -> Text,
        enabled -> Bool,
        enforced -> Bool,
        allow_admin_password_login -> Bool,
        require_idp_mfa -> Bool,
        jit_enabled -> Bool,
        jit_default_role -> Text,
        jit_accounts -> Text,
        entra_auth_context -> Nullable<Text>,
        enabled_at -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        enforcement_scope -> Text,
    }
}

diesel::table! {
    throttle_events (id) {
        id -> Text,
        bucket -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        home_account_id -> Text,
        username -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        totp_secret_enc -> Nullable<Text>,
        totp_enabled -> Bool,
        totp_last_step -> Nullable<BigInt>,
        status -> Text,
        must_change_password -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        email_verified_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(approved_tenants -> accounts (account_id));
diesel::joinable!(connections -> accounts (account_id));
diesel::joinable!(domains -> accounts (account_id));
diesel::joinable!(identity_links -> users (user_id));
diesel::joinable!(invitations -> accounts (account_id));
diesel::joinable!(invitations -> users (user_id));
diesel::joinable!(login_flows -> accounts (account_id));
diesel::joinable!(memberships -> accounts (account_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(oidc_refresh_tokens -> oidc_refresh_families (family_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(sso_settings -> accounts (account_id));
diesel::joinable!(users -> accounts (home_account_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_tokens,
    approved_tenants,
    audit_events,
    connections,
    domains,
    entra_key_sets,
    identity_links,
    invitations,
    login_flows,
    memberships,
    oidc_authorization_codes,
    oidc_authorization_requests,
    oidc_backchannel_logouts,
    oidc_clients,
    oidc_refresh_families,
    oidc_refresh_tokens,
    oidc_signing_keys,
    outbox,
    recovery_codes,
    saml_replays,
    sessions,
    sso_settings,
    throttle_events,
    users,
);
