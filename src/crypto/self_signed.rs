//! RSA-2048 keys with a self-signed X.509 certificate: what SAML parties exchange as "the
//! signing certificate" (a key carrier; SAML peers pin it rather than validate a chain).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};

/// Ten years: nobody checks it, and a rollover should be the owner's choice, not an expiry's.
pub const CERT_VALID_DAYS: u32 = 3650;

/// A fresh RSA-2048 key and a self-signed SHA-256 certificate for it with `common_name`.
pub fn generate(common_name: &str) -> Result<(PKey<Private>, X509), ErrorStack> {
    let pkey = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    builder.set_serial_number(serial.to_asn1_integer()?.as_ref())?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&pkey)?;
    builder.set_not_before(Asn1Time::days_from_now(0)?.as_ref())?;
    builder.set_not_after(Asn1Time::days_from_now(CERT_VALID_DAYS)?.as_ref())?;
    builder.sign(&pkey, MessageDigest::sha256())?;
    Ok((pkey, builder.build()))
}
