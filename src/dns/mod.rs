//! DNS adapter: reads TXT records for domain verification (SPEC §2 Domain). Knows nothing about
//! actix, accounts or tokens: it takes a name and returns the record texts; deciding what they
//! prove is `domain::domain_verification`'s job.
//!
//! `TxtLookup` is a trait so the state holds `Arc<dyn TxtLookup>`; the real implementation is
//! `HickoryTxtLookup` (the integration tests run it against a fake DNS server on loopback).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// Attempts per query (the first try and one retry), each bounded by the configured timeout.
const ATTEMPTS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// No answer from any name server (timeout, refused, SERVFAIL, I/O).
    #[error("DNS could not be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The resolver cannot be set up (unreadable system configuration).
    #[error("DNS resolver configuration: {0}")]
    Config(String),
}

/// Looks up TXT records. An existing name without TXT records, and a name that does not exist
/// (NXDOMAIN), both give an empty list: only a failure to get an answer is an error.
pub trait TxtLookup: Send + Sync {
    /// The records at `name` (a fully qualified name), each one's character-strings joined.
    fn txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, DnsError>>;
}

/// One TXT record's text: its character-strings concatenated, as RFC 7208 §3.3 reads them
/// (a long value is split into 255-byte strings by the DNS software that publishes it).
pub fn record_text<S: AsRef<[u8]>>(strings: &[S]) -> String {
    let bytes: Vec<u8> = strings
        .iter()
        .flat_map(|s| s.as_ref().iter().copied())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// TXT lookups through hickory-resolver, uncached: an admin who just published the record and
/// clicks "Verify" must not be answered from a cached NXDOMAIN.
pub struct HickoryTxtLookup {
    resolver: TokioResolver,
    deadline: Duration,
}

impl HickoryTxtLookup {
    /// Asks `servers` (UDP, then TCP) or, when empty, the system's name servers
    /// (`/etc/resolv.conf`). `timeout` bounds each attempt.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Self, DnsError> {
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| DnsError::Config(e.to_string()))?
        } else {
            let name_servers = servers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        options.attempts = ATTEMPTS;
        options.cache_size = 0;
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        let resolver = builder
            .build()
            .map_err(|e| DnsError::Config(e.to_string()))?;
        Ok(Self {
            resolver,
            // Attempts over UDP and TCP could add up; the caller waits this long at most.
            deadline: timeout * ATTEMPTS as u32 + Duration::from_secs(1),
        })
    }
}

impl TxtLookup for HickoryTxtLookup {
    fn txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, DnsError>> {
        Box::pin(async move {
            let lookup = tokio::time::timeout(self.deadline, self.resolver.txt_lookup(name))
                .await
                .map_err(|e| DnsError::Unreachable(Box::new(e)))?;
            match lookup {
                Ok(lookup) => Ok(lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(record_text(&txt.txt_data)),
                        _ => None,
                    })
                    .collect()),
                Err(e) if e.is_no_records_found() => Ok(Vec::new()),
                Err(e) => Err(DnsError::Unreachable(Box::new(e))),
            }
        })
    }
}

/// Stands in when the system's resolver configuration cannot be read: every lookup fails as
/// unreachable, so the rest of the broker still starts.
pub struct UnavailableTxtLookup(pub String);

impl TxtLookup for UnavailableTxtLookup {
    fn txt<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Result<Vec<String>, DnsError>> {
        let message = self.0.clone();
        Box::pin(async move { Err(DnsError::Unreachable(message.into())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_split_into_character_strings_is_read_joined() {
        let token = "sso-broker-verification=abc";
        assert_eq!(record_text(&[token.as_bytes()]), token);
        assert_eq!(
            record_text(&["sso-broker-".as_bytes(), "verification=abc".as_bytes()]),
            token
        );
        assert_eq!(record_text::<&[u8]>(&[]), "");
    }
}
