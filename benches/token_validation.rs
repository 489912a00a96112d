#![allow(clippy::expect_used)] // setup failures in a benchmark should panic loudly
//! Entra token validation (SPEC §4) with a warm key cache, next to the raw RS256 signature
//! check it contains, measured in the same run: `cargo bench --bench token_validation`.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::future::BoxFuture;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use sso_broker::sso::devidp::{DevIdp, DevTenant, DevUser};
use sso_broker::sso::entra::{validate_token, JwksSource, KeyCache, TenantId, TokenRules};
use sso_broker::sso::SsoError;
use url::Url;

const AUTHORITY: &str = "https://login.microsoftonline.com";
const CLIENT_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const TENANT: &str = "11111111-2222-4333-8444-555555555555";

/// Serves one key set from memory (the cache is warm after the first call anyway).
struct StaticJwks(JwkSet);

impl JwksSource for StaticJwks {
    fn fetch<'a>(&'a self, _tenant: &'a TenantId) -> BoxFuture<'a, Result<JwkSet, SsoError>> {
        let set = self.0.clone();
        Box::pin(async move { Ok(set) })
    }
}

fn token_validation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let idp = DevIdp::new(AUTHORITY, CLIENT_ID, "secret").expect("dev idp");
    let user = DevUser {
        oid: "00000000-0000-4000-8000-00000000000a".into(),
        email: "ada@contoso.example".into(),
        name: "Ada".into(),
        email_verified: true,
        wids: vec![],
    };
    idp.add_tenant(
        TENANT,
        DevTenant {
            display_name: "Contoso".into(),
            verified_domains: vec!["contoso.example".into()],
            consented: true,
            users: vec![user.clone()],
            graph_id_override: None,
        },
    );
    let now = Utc
        .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .expect("time");
    let token = idp.id_token(TENANT, &user, Some("nonce-123"), now, json!({}));
    let jwks: JwkSet = serde_json::from_value(idp.jwks()).expect("jwks");
    let cache = KeyCache::new(Arc::new(StaticJwks(jwks.clone())));
    let authority = Url::parse(AUTHORITY).expect("url");
    let audiences = vec![CLIENT_ID.to_string()];
    let rules = TokenRules {
        authority: &authority,
        audiences: &audiences,
        nonce: Some("nonce-123"),
        now,
    };
    let lookup = |_: &TenantId| Some(vec!["contoso.example".to_string()]);
    runtime
        .block_on(validate_token(&token, &rules, &cache, &lookup))
        .expect("warm-up validation");

    c.bench_function("entra_validate_token_warm_cache", |b| {
        b.to_async(&runtime).iter(|| async {
            validate_token(&token, &rules, &cache, &lookup)
                .await
                .expect("valid")
        })
    });

    let key = DecodingKey::from_jwk(&jwks.keys[0]).expect("key");
    let mut raw = Validation::new(Algorithm::RS256);
    raw.validate_exp = false;
    raw.validate_aud = false;
    raw.required_spec_claims.clear();
    c.bench_function("rs256_signature_verify_only", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(&token, &key, &raw).expect("verifies"))
    });
}

criterion_group!(benches, token_validation);
criterion_main!(benches);
