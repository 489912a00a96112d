//! Builds the application: state (database, keys, session store, mailer) and the HTTP server.
//! Tests call `Application::build` with port 0 and their own clock.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_web::cookie::SameSite;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::auth::session::SessionPolicy;
use crate::auth::session_store::BrokerSessionStore;
use crate::cache::{Cached, Health, Invalidator, Topics, TTL_FLOOR};
use crate::clock::SharedClock;
use crate::config::{DatabaseUrl, Settings};
use crate::crypto::{InstallationKey, Keys};
use crate::db::oidc_client::OidcClient;
use crate::db::Db;
use crate::dns::{HickoryTxtLookup, TxtLookup, UnavailableTxtLookup};
use crate::metrics::Metrics;
use crate::routes;
use crate::services::account::profile::Profile;
use crate::services::admin::api_tokens::KnownToken;
use crate::services::connections::entra_tenants::{EntraSignInTrust, TenantApprovals};
use crate::services::provider::backchannel::{self, BackchannelWorker};
use crate::services::provider::signing_keys::{self, SigningKeyCache};
use crate::services::support::mail::Mailer;
use crate::work_pool::WorkPool;

pub const SESSION_COOKIE: &str = "sso_broker_session";

/// Everything a request or command needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub clock: SharedClock,
    pub keys: Arc<Keys>,
    pub mailer: Mailer,
    pub metrics: Arc<Metrics>,
    pub session_store: BrokerSessionStore,
    pub session_policy: SessionPolicy,
    /// Microsoft Entra ID, when the broker has its app credentials.
    pub entra: Option<Arc<crate::services::connections::entra_tenants::EntraRuntime>>,
    /// TXT lookups for domain verification.
    pub dns: Arc<dyn TxtLookup>,
    /// The OpenID Provider's signing key, as this instance last read it (SPEC §7.4).
    pub oidc_signing_keys: Arc<SigningKeyCache>,
    /// Argon2 runs here, on a thread per core, with a short queue (`work_pool`).
    pub passwords: WorkPool,
    /// SAML signature checks run here, on a thread per core, with a queue bounded in KiB
    /// (`work_pool`): the ACS needs no sign-in, and a flood of responses must neither take the
    /// database's blocking threads nor pile up in memory.
    pub saml_checks: WorkPool,
    /// Delivers Back-Channel Logout tokens (SPEC §7.2).
    pub backchannel: BackchannelWorker,
    /// What hot paths keep in memory, kept honest across instances.
    pub caches: Arc<Caches>,
}

/// Threads the server may start for blocking work (`Db::run`; Argon2 and XML signature checks
/// run on threads of their own, `work_pool`), shared among the HTTP workers: a few more than
/// the database pool has connections. More only wait for a connection (or SQLite's write lock), and every
/// wait and wake-up is CPU taken from the work (16 a worker on two workers cost the Entra
/// callback a fifth of its throughput in `make bench-load`).
const BLOCKING_THREADS: usize = 12;

/// Each HTTP worker's share of [`BLOCKING_THREADS`] (actix starts one worker per core), and
/// never fewer than 2 (each worker has a pool of its own).
fn blocking_threads_per_worker() -> usize {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    BLOCKING_THREADS.div_ceil(workers).max(2)
}

/// Bytes of `/validate` answers kept (about 5,000 tokens of Entra's usual size).
const VALIDATED_TOKEN_BYTES: u64 = 8 << 20;

/// What a cache entry costs besides its key and value bytes (moka's node, the `Arc`s).
const ENTRY_OVERHEAD: usize = 160;

/// What hot paths keep in memory (`crate::cache`), all dropped through one invalidator.
pub struct Caches {
    pub invalidator: Arc<Invalidator>,
    /// Profiles behind sessions, by the session's sign-in facts (`account::profile`).
    pub profiles: Arc<Cached<Profile>>,
    /// Live operator API tokens by hash.
    pub api_tokens: Arc<Cached<Arc<KnownToken>>>,
    /// Accounts that approved an Entra tenant, by tenant id: `(account name, domains)`.
    pub tenant_approvals: Arc<Cached<TenantApprovals>>,
    /// Answers of `/api/v1/entra/validate` (the JSON body), by token hash and account asked
    /// for, with the token's expiry (unix seconds). Bounded by bytes: a token's claims are the
    /// tenant's to size.
    pub validated_tokens: Arc<Cached<(bytes::Bytes, i64)>>,
    /// Relying parties' registrations by `client_id` (the token, revocation and
    /// introspection endpoints authenticate one per request).
    pub oidc_clients: Arc<Cached<Arc<OidcClient>>>,
    /// What an Entra sign-in checks of the account SSO goes through, by `account id|tenant id`:
    /// the tenant's approval (its verified domains) and the account's Entra connection.
    pub entra_sign_in_trust: Arc<Cached<Arc<EntraSignInTrust>>>,
}

impl Caches {
    /// `(name, hits, misses)` of every cache but the session store's.
    pub fn lookups(&self) -> Vec<(&'static str, u64, u64)> {
        let of = |name: &'static str, (hits, misses): (u64, u64)| (name, hits, misses);
        vec![
            of(self.profiles.name(), self.profiles.lookups()),
            of(self.api_tokens.name(), self.api_tokens.lookups()),
            of(
                self.tenant_approvals.name(),
                self.tenant_approvals.lookups(),
            ),
            of(
                self.validated_tokens.name(),
                self.validated_tokens.lookups(),
            ),
            of(self.oidc_clients.name(), self.oidc_clients.lookups()),
            of(
                self.entra_sign_in_trust.name(),
                self.entra_sign_in_trust.lookups(),
            ),
        ]
    }

    pub fn new(invalidator: Arc<Invalidator>) -> Self {
        let health = invalidator.health();
        fn cache<V: Clone + Send + Sync + 'static>(
            name: &'static str,
            topics: Topics,
            capacity: u64,
            health: &Arc<Health>,
        ) -> Arc<Cached<V>> {
            Arc::new(Cached::new(
                name,
                topics,
                capacity,
                TTL_FLOOR,
                health.clone(),
            ))
        }
        let this = Self {
            profiles: cache("profiles", Topics::DIRECTORY, 20_000, &health),
            api_tokens: cache("api_tokens", Topics::API_TOKENS, 1_000, &health),
            tenant_approvals: cache("tenant_approvals", Topics::DIRECTORY, 10_000, &health),
            validated_tokens: Arc::new(Cached::weighed(
                "validated_tokens",
                Topics::DIRECTORY,
                VALIDATED_TOKEN_BYTES,
                TTL_FLOOR,
                health.clone(),
                |key, (body, _)| {
                    u32::try_from(key.len() + body.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                },
            )),
            oidc_clients: cache("oidc_clients", Topics::OIDC_CLIENTS, 1_000, &health),
            entra_sign_in_trust: cache("entra_sign_in_trust", Topics::DIRECTORY, 10_000, &health),
            invalidator,
        };
        this.invalidator.register(this.profiles.clone());
        this.invalidator.register(this.api_tokens.clone());
        this.invalidator.register(this.tenant_approvals.clone());
        this.invalidator.register(this.validated_tokens.clone());
        this.invalidator.register(this.oidc_clients.clone());
        this.invalidator.register(this.entra_sign_in_trust.clone());
        this
    }
}

/// The invalidation channel for this deployment. It follows the database every instance and
/// every `sso-broker` command shares: PostgreSQL `LISTEN/NOTIFY`, or the event file beside a
/// SQLite database. (Not Redis: a command run with only the database URL must reach the
/// servers too.)
async fn invalidator(settings: &Settings, db: &Db) -> anyhow::Result<Arc<Invalidator>> {
    Ok(match &settings.database {
        DatabaseUrl::Postgres(url) => {
            Invalidator::postgres(db.clone(), crate::db::listener_url(url))
        }
        DatabaseUrl::Sqlite(path) => {
            let events = path.with_extension("cache-events");
            Invalidator::file(&events)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", events.display()))?
        }
    })
}

impl AppState {
    /// Connects to the database (running migrations), loads keys, opens the session store.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        crate::crypto::jwt_keys::install();
        let db = Db::connect(settings.database.clone())?;
        {
            let db = db.clone();
            tokio::task::spawn_blocking(move || db.migrate()).await??;
        }
        let key = match &settings.secret_key {
            Some(secret) => InstallationKey::from_secret(secret),
            None => InstallationKey::load_or_generate(&settings.data_dir)?,
        };
        let invalidator = invalidator(&settings, &db).await?;
        db.on_change(invalidator.clone());
        let session_store = match &settings.redis_url {
            Some(url) => BrokerSessionStore::redis(url, &settings.redis_prefix, clock.clone())
                .await
                .map_err(|e| anyhow::anyhow!("SSO_BROKER_REDIS_URL: cannot connect: {e}"))?,
            None => BrokerSessionStore::database(db.clone(), clock.clone()),
        }
        .cached(&invalidator);
        let entra = crate::services::connections::entra_tenants::EntraRuntime::from_settings(
            &settings, &db, &clock,
        )?;
        let dns = txt_lookup(&settings)?;
        let keys = Arc::new(key.keys());
        Ok(Self {
            entra,
            dns,
            mailer: Mailer::new(&settings, keys.clone())?,
            session_policy: SessionPolicy {
                idle_timeout: settings.session_idle_timeout,
                lifetime: settings.session_lifetime,
            },
            settings: Arc::new(settings),
            db,
            clock,
            keys,
            metrics: Arc::new(Metrics::default()),
            session_store,
            oidc_signing_keys: Arc::new(SigningKeyCache::default()),
            passwords: WorkPool::for_passwords()?,
            saml_checks: WorkPool::for_saml_checks()?,
            backchannel: BackchannelWorker::new()?,
            caches: Arc::new(Caches::new(invalidator)),
        })
    }
}

/// The resolver for domain verification. Explicit servers that cannot be used stop the start;
/// an unreadable system configuration only disables verification (logged), since nothing else
/// needs DNS.
fn txt_lookup(settings: &Settings) -> anyhow::Result<Arc<dyn TxtLookup>> {
    match HickoryTxtLookup::new(&settings.dns_servers, settings.dns_timeout) {
        Ok(lookup) => Ok(Arc::new(lookup)),
        Err(e) if settings.dns_servers.is_empty() => {
            log::warn!("domain verification is unavailable: {e}; set SSO_BROKER_DNS_SERVERS");
            Ok(Arc::new(UnavailableTxtLookup(e.to_string())))
        }
        Err(e) => Err(anyhow::anyhow!("SSO_BROKER_DNS_SERVERS: {e}")),
    }
}

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    /// Builds the state and the server; the OpenID Provider's first signing key is made here
    /// when the database has none (SPEC §7.4), or a due one is rotated.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let state = AppState::build(settings, clock).await?;
        signing_keys::ensure_current(&state).await?;
        Self::with_state(state)
    }

    pub fn with_state(state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(state.settings.bind).map_err(|e| {
            anyhow::anyhow!(
                "SSO_BROKER_BIND: cannot listen on {}: {e}",
                state.settings.bind
            )
        })?;
        let port = listener.local_addr()?.port();
        // The dummy hash (SPEC §3.1 timing) is made once the listener is up, not before.
        state
            .passwords
            .spawn_if_free(crate::auth::password::warm_up);
        state
            .mailer
            .clone()
            .spawn_worker(state.db.clone(), state.clock.clone());
        backchannel::spawn_worker(state.clone());
        spawn_purge(state.clone());
        spawn_key_refresh(state.clone());
        let server = run(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Deletes long-expired sessions and old throttle events every ten minutes, and ends the
/// OpenID Provider grants of expired sessions (back-channel logout).
fn spawn_purge(state: AppState) {
    tokio::spawn(async move {
        loop {
            let now = state.clock.now_naive();
            let result = state
                .db
                .run(move |conn| {
                    crate::db::session::SessionRow::purge_before(
                        conn,
                        now - chrono::Duration::hours(1),
                    )?;
                    crate::db::login_flow::LoginFlow::purge_before(
                        conn,
                        now - chrono::Duration::hours(1),
                    )?;
                    crate::db::oidc_authorization_request::OidcAuthorizationRequest::purge_before(
                        conn,
                        now - chrono::Duration::hours(1),
                    )?;
                    crate::db::oidc_authorization_code::OidcAuthorizationCode::purge_before(
                        conn,
                        now - chrono::Duration::days(1),
                    )?;
                    crate::db::throttle_event::ThrottleEvent::purge_before(
                        conn,
                        now - chrono::Duration::days(1),
                    )
                })
                .await;
            if let Err(e) = result {
                log::warn!("purge failed: {e}");
            }
            // Sessions that ended by expiry: their grants end and clients are told.
            if let Err(e) = backchannel::end_expired_sessions(&state).await {
                log::warn!("ending expired sessions' grants failed: {e}");
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
}

/// Refreshes every cached Entra signing-key set hourly (failures keep the last good keys), and
/// re-checks every approved tenant's consent every six hours (SPEC §3.3).
fn spawn_key_refresh(state: AppState) {
    let Some(entra) = state.entra.clone() else {
        return;
    };
    tokio::spawn(async move {
        let mut hours: u64 = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            hours += 1;
            entra.keys.refresh_all().await;
            if hours % TENANT_RECHECK_HOURS == 0 {
                match crate::services::connections::entra_tenants::recheck_all(&state).await {
                    Ok(revoked) if revoked > 0 => {
                        log::warn!("periodic consent check revoked {revoked} tenant(s)")
                    }
                    Ok(_) => {}
                    Err(e) => log::warn!("periodic consent check failed: {e}"),
                }
            }
        }
    });
}

/// How often every approved tenant's consent is proven again.
const TENANT_RECHECK_HOURS: u64 = 6;

fn run(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let secure = state.settings.is_https();
    let lifetime =
        actix_web::cookie::time::Duration::seconds(state.session_policy.lifetime.num_seconds());
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        let session =
            SessionMiddleware::builder(data.session_store.clone(), data.keys.cookie.clone())
                .cookie_name(SESSION_COOKIE.to_string())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(
                    BrowserSession::default()
                        .state_ttl(lifetime)
                        .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
                )
                .build();
        App::new()
            .app_data(data.clone())
            .app_data(routes::errors::form_config())
            .app_data(routes::errors::json_config())
            .app_data(routes::errors::query_config())
            .app_data(routes::errors::path_config())
            .wrap(session)
            .wrap(from_fn(routes::middleware::request_context))
            .configure(routes::configure)
            .default_service(web::to(routes::errors::not_found))
    })
    // More blocking threads than that only wait, each holding its stack and allocator heap.
    .worker_max_blocking_threads(blocking_threads_per_worker())
    .listen(listener)?
    .run();
    Ok(server)
}
