//! The command line (SPEC §6.1). Parses arguments and calls the library; prints results.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::demo;
use crate::services::admin::accounts::{self, NewAccount, NewUser};
use crate::services::admin::api_tokens;
use crate::services::provider::clients::{self, ClientInput};
use crate::services::provider::signing_keys;
use crate::services::RequestMeta;
use crate::{AppState, Application};

#[derive(Debug, Parser)]
#[command(
    name = "sso-broker",
    version,
    about = "Sign-in broker: Entra ID, SAML 2.0, password + TOTP"
)]
pub struct Cli {
    /// A TOML file with configuration keys (same as SSO_BROKER_CONFIG_FILE).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (runs migrations first).
    Serve,
    /// Start the server with seeded demo accounts (loopback only).
    Demo,
    /// Run database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage operator API tokens.
    #[command(name = "api-token", subcommand)]
    ApiToken(ApiTokenCommand),
    /// SSO settings of an account.
    #[command(subcommand)]
    Sso(SsoCommand),
    /// The OpenID Provider for portal applications: clients and signing keys.
    #[command(subcommand)]
    Oidc(OidcCommand),
}

#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Register and manage portal applications (OpenID Connect clients).
    #[command(subcommand)]
    Client(OidcClientCommand),
    /// Make a new signing key that signs from now on; the previous one stays in the JWKS until
    /// every token it signed has expired.
    #[command(name = "rotate-keys")]
    RotateKeys,
}

#[derive(Debug, Subcommand)]
pub enum OidcClientCommand {
    /// Register a client; prints it as one JSON object on the last line (with its secret,
    /// shown once, unless --public).
    Create(OidcClientCreate),
}

#[derive(Debug, Args)]
pub struct OidcClientCreate {
    #[arg(long)]
    name: String,
    /// An exact redirect URI (repeat for several).
    #[arg(long = "redirect-uri", required = true)]
    redirect_uris: Vec<String>,
    /// A public client (SPA, native app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// An exact post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// Limit the client to users signing in to this account or its sub-accounts (repeat).
    #[arg(long = "account")]
    accounts: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SsoCommand {
    /// IdP outage switch: turn SSO enforcement off so users can sign in with passwords.
    #[command(name = "disable-enforcement")]
    DisableEnforcement {
        #[arg(long)]
        account: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in an account.
    Create(UserCreate),
}

#[derive(Debug, Args)]
pub struct UserCreate {
    #[arg(long)]
    account: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    username: Option<String>,
    #[arg(long, default_value = "user")]
    role: String,
    /// Read the password from standard input (one line).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token; it is printed alone on the last line.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List tokens: name, creation, last use and revocation (never the token).
    List,
    /// Revoke a token by name; it is refused from the next request on.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

/// Loads settings from the environment and the optional `--config` file.
pub fn load_settings(config: Option<&PathBuf>) -> Result<Settings, crate::config::ConfigError> {
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SSO_BROKER_"))
        .collect();
    if let Some(path) = config {
        env.insert(
            "SSO_BROKER_CONFIG_FILE".into(),
            path.to_string_lossy().into_owned(),
        );
    }
    Settings::from_sources(&env)
}

/// Runs the command; the error text is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = load_settings(cli.config.as_ref())?;
    let clock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings, clock).await?;
            log::info!(
                "sso-broker listening on {} (public URL {})",
                app.state().settings.bind,
                app.state().settings.public_url
            );
            app.run_until_stopped().await?;
        }
        Command::Demo => {
            if !settings.is_loopback() {
                anyhow::bail!("SSO_BROKER_PUBLIC_URL: demo runs only on a loopback address (127.0.0.1 or localhost)");
            }
            if !settings.bind.ip().is_loopback() {
                anyhow::bail!(
                    "SSO_BROKER_BIND: demo listens only on a loopback address (127.0.0.1 or [::1]), not {}: its users have a published password",
                    settings.bind
                );
            }
            // The development IdP (SPEC §6.6) on a second loopback port, unless real Entra
            // credentials are configured.
            let mut settings = settings;
            let dev_idp = if settings.entra_client_id.is_none() {
                let listener = std::net::TcpListener::bind((settings.bind.ip(), 0))?;
                let authority = format!("http://{}", listener.local_addr()?);
                let secret = crate::crypto::tokens::random_token(24);
                let idp = Arc::new(crate::sso::devidp::DevIdp::new(
                    &authority,
                    demo::entra::CLIENT_ID,
                    &secret,
                )?);
                settings.entra_client_id = Some(demo::entra::CLIENT_ID.into());
                settings.entra_client_secret = Some(SecretString::from(secret));
                settings.entra_authority = url::Url::parse(&authority)?;
                settings.graph_url = url::Url::parse(&authority)?;
                settings.entra_allow_insecure_http = true;
                Some((idp, listener, authority))
            } else {
                None
            };
            let saml_listener = std::net::TcpListener::bind((settings.bind.ip(), 0))?;
            let state = AppState::build(settings, clock.clone()).await?;
            demo::ensure_demo_database(&state).await?;
            let info = demo::seed(&state).await?;
            demo::entra::seed_account(&state).await?;
            demo::okta::seed_account(&state).await?;
            let saml_idp = Arc::new(crate::routes::devidp_saml::DevSamlState {
                idp: crate::sso::devidp::saml::DevSamlIdp::generate("okta-dev.sso-broker.test")?,
                base: format!("http://{}", saml_listener.local_addr()?),
                users: demo::okta::idp_users(),
                clock: clock.clone(),
            });
            tokio::spawn(crate::routes::devidp_saml::serve(
                saml_idp.clone(),
                saml_listener,
            )?);
            let idp_authority = match dev_idp {
                Some((idp, listener, authority)) => {
                    demo::entra::seed_idp(&state, &idp).await?;
                    let server = crate::routes::devidp::serve(idp, clock, listener)?;
                    tokio::spawn(server);
                    Some(authority)
                }
                None => None,
            };
            let portal = demo::portal::start(&state).await?;
            let app = Application::with_state(state)?;
            let base = app
                .state()
                .settings
                .public_url
                .as_str()
                .trim_end_matches('/')
                .to_string();
            println!("\nsso-broker demo is running: open {base}/login\n");
            println!("  Account 'demo' (password + TOTP)");
            println!("    admin: demo-admin / {}", demo::DEMO_PASSWORD);
            println!("    user:  demo-user  / {}   (turn on two-step verification at {base}/account/security)", demo::DEMO_PASSWORD);
            println!("  Log in with SSO page: {base}/login/sso");
            println!(
                "\n  Demo portal (an OpenID Connect client of the broker, '{}'): open {portal}/",
                demo::portal::CLIENT_NAME
            );
            println!("    Sign in there with any user below; it shows the ID token's claims and signs out through the broker");
            if let Some(authority) = idp_authority {
                println!("\n  Account 'entra-demo' (Microsoft Entra ID through the development IdP at {authority})");
                println!(
                    "    1. Sign in at {base}/login as entra-admin / {}",
                    demo::DEMO_PASSWORD
                );
                println!("    2. Open {base}/admin/entra and click \"Connect Microsoft Entra ID\": sign in as the Contoso IT Admin and accept");
                println!("    3. Open {base}/admin/sso, click \"Enable SSO\", read what changes, confirm (enforce, JIT, MFA there too)");
                println!("    4. Sign out, then Log in with SSO: account entra-demo, email ada@contoso.example");
                println!("    5. eve@fabrikam.example (another organization) is refused with the SPEC message");
            }
            println!(
                "\n  Account 'okta-demo' (SAML through the development Okta-style IdP at {})",
                saml_idp.base
            );
            println!(
                "    1. Sign in at {base}/login as okta-admin / {}",
                demo::DEMO_PASSWORD
            );
            println!(
                "    2. Open {}/saml/metadata, copy the XML and paste it at {base}/admin/saml (Save connection)",
                saml_idp.base
            );
            println!("    3. Sign out, then Log in with SSO: account okta-demo, email grace@okta-demo.example (MFA) or heidi@okta-demo.example (password only)");
            println!("    JIT is on for the verified domain okta-demo.example: ivan@okta-demo.example gets a user at his first sign-in");
            println!("    SSO is enforced: olga@okta-demo.example / {} is refused at {base}/login (\"Password login is disabled…\"),", demo::DEMO_PASSWORD);
            println!("    while okta-admin keeps the break-glass admin login. Settings: {base}/admin/sso");
            println!(
                "    IdP outage switch: sso-broker sso disable-enforcement --account okta-demo"
            );
            println!(
                "    4. {base}/api/v1/me shows idp \"saml\", the amr values and the MFA evidence"
            );
            println!(
                "    (the IdP's key is new at every start: import its metadata again after a restart)\n"
            );
            println!(
                "  Operator API token (shown once):\n    {}",
                info.api_token.expose_secret()
            );
            println!("  Audit log: curl -H 'Authorization: Bearer {}' {base}/api/v1/accounts/demo/audit\n", info.api_token.expose_secret());
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            AppState::build(settings, clock).await?;
            println!("migrations applied");
        }
        Command::Account(AccountCommand::Create {
            name,
            parent,
            display_name,
        }) => {
            let state = AppState::build(settings, clock).await?;
            let created = accounts::create_account(
                &state,
                NewAccount {
                    name,
                    display_name,
                    parent,
                    sso_available: None,
                },
                "cli".into(),
                RequestMeta::cli(),
            )
            .await?;
            println!("created account {} ({})", created.name, created.id);
        }
        Command::User(UserCommand::Create(args)) => {
            let password = if args.password_stdin {
                let mut line = String::new();
                std::io::stdin().take(4096).read_to_string(&mut line)?;
                Some(SecretString::from(
                    line.trim_end_matches(['\r', '\n']).to_string(),
                ))
            } else {
                None
            };
            let state = AppState::build(settings, clock).await?;
            let created = accounts::create_user(
                &state,
                NewUser {
                    account: args.account,
                    email: args.email,
                    username: args.username,
                    role: args.role,
                    password,
                },
                "cli".into(),
                RequestMeta::cli(),
            )
            .await?;
            println!("created user {} ({})", created.username, created.id);
        }
        Command::ApiToken(ApiTokenCommand::Create { name }) => {
            let state = AppState::build(settings, clock).await?;
            let token = api_tokens::create(&state, &name, RequestMeta::cli()).await?;
            println!(
                "created API token '{}'; it is shown once, store it now:",
                name.trim()
            );
            println!("{}", token.expose_secret());
        }
        Command::ApiToken(ApiTokenCommand::List) => {
            let state = AppState::build(settings, clock).await?;
            let tokens = api_tokens::list(&state).await?;
            if tokens.is_empty() {
                println!("no API tokens");
            }
            let at = |t: Option<chrono::NaiveDateTime>, none: &str| {
                t.map(|t| format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S")))
                    .unwrap_or_else(|| none.to_string())
            };
            for t in tokens {
                println!(
                    "{}\tcreated {}\tlast used {}\t{}",
                    t.name,
                    at(Some(t.created_at), ""),
                    at(t.last_used_at, "never"),
                    match t.revoked_at {
                        Some(r) => format!("revoked {}", at(Some(r), "")),
                        None => "active".to_string(),
                    }
                );
            }
        }
        Command::ApiToken(ApiTokenCommand::Revoke { name }) => {
            let state = AppState::build(settings, clock).await?;
            api_tokens::revoke(&state, &name, RequestMeta::cli()).await?;
            println!("revoked API token '{}'", name.trim());
        }
        Command::Oidc(OidcCommand::Client(OidcClientCommand::Create(args))) => {
            let state = AppState::build(settings, clock).await?;
            let input = ClientInput {
                name: args.name,
                client_type: Some(
                    if args.public {
                        "public"
                    } else {
                        "confidential"
                    }
                    .into(),
                ),
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                backchannel_logout_uri: args.backchannel_logout_uri,
                accounts: args.accounts,
            };
            let created = clients::create(&state, input, "cli".into(), RequestMeta::cli()).await?;
            if created.secret.is_some() {
                println!(
                    "created client '{}'; its secret is shown once, store it now:",
                    created.client.name
                );
            } else {
                println!("created public client '{}'", created.client.name);
            }
            println!("{}", created.reveal()?);
        }
        Command::Oidc(OidcCommand::RotateKeys) => {
            let state = AppState::build(settings, clock).await?;
            let key = signing_keys::rotate(&state, "cli", RequestMeta::cli()).await?;
            println!(
                "key {} signs from now on (every instance within {} seconds); the previous key stays in the JWKS until the tokens it signed have expired",
                key.kid,
                crate::oidc_provider::signing::SIGNER_RELOAD_SECONDS
            );
        }
        Command::Sso(SsoCommand::DisableEnforcement { account }) => {
            let state = AppState::build(settings, clock).await?;
            let view = crate::services::admin::sso_settings::disable_enforcement(
                &state,
                account,
                "cli".into(),
                RequestMeta::cli(),
            )
            .await?;
            println!(
                "SSO enforcement is off for account '{}': users with passwords can sign in with them. SSO stays {}.",
                view.account,
                if view.enabled { "on" } else { "off" }
            );
        }
    }
    Ok(())
}
