//! The signing certificates a SAML connection trusts (SPEC §5, rollover): the current one and
//! the IdP's next one, never none. Pure: a certificate is an opaque string here (base64 DER).

/// Most certificates a connection trusts at once: the current one and the next (rollover).
pub const MAX_CERTIFICATES: usize = 2;

/// Why a change of the trusted certificates is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateRefusal {
    /// Adding one would trust more than `MAX_CERTIFICATES`.
    TooMany,
    /// Removing would leave none: sign-ins would have nothing to check.
    LastOne,
    /// No trusted certificate is the one named.
    Unknown,
}

/// Trusts `cert` too; one trusted already is not added twice (and is no refusal).
pub fn add(certificates: &mut Vec<String>, cert: String) -> Result<(), CertificateRefusal> {
    if certificates.contains(&cert) {
        return Ok(());
    }
    if certificates.len() >= MAX_CERTIFICATES {
        return Err(CertificateRefusal::TooMany);
    }
    certificates.push(cert);
    Ok(())
}

/// Stops trusting the certificates `named` picks. Refused, changing nothing, when that leaves
/// none (checked first) or picks none.
pub fn remove(
    certificates: &mut Vec<String>,
    named: impl Fn(&str) -> bool,
) -> Result<(), CertificateRefusal> {
    let kept: Vec<String> = certificates.iter().filter(|c| !named(c)).cloned().collect();
    if kept.is_empty() {
        return Err(CertificateRefusal::LastOne);
    }
    if kept.len() == certificates.len() {
        return Err(CertificateRefusal::Unknown);
    }
    *certificates = kept;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certs(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_next_certificate_is_added_once_and_a_third_is_refused() {
        let mut trusted = certs(&["current"]);
        assert_eq!(add(&mut trusted, "next".into()), Ok(()));
        assert_eq!(add(&mut trusted, "next".into()), Ok(()));
        assert_eq!(trusted, certs(&["current", "next"]));
        assert_eq!(
            add(&mut trusted, "third".into()),
            Err(CertificateRefusal::TooMany)
        );
        assert_eq!(
            add(&mut trusted, "current".into()),
            Ok(()),
            "known: no change"
        );
        assert_eq!(trusted, certs(&["current", "next"]));
    }

    #[test]
    fn the_old_certificate_is_removed_but_never_the_last_one() {
        let mut trusted = certs(&["old", "new"]);
        assert_eq!(remove(&mut trusted, |c| c == "old"), Ok(()));
        assert_eq!(trusted, certs(&["new"]));
        assert_eq!(
            remove(&mut trusted, |c| c == "new"),
            Err(CertificateRefusal::LastOne)
        );
        assert_eq!(trusted, certs(&["new"]));
    }

    #[test]
    fn removing_an_unknown_certificate_is_refused() {
        let mut trusted = certs(&["a", "b"]);
        assert_eq!(
            remove(&mut trusted, |c| c == "c"),
            Err(CertificateRefusal::Unknown)
        );
        assert_eq!(trusted, certs(&["a", "b"]));
    }
}
