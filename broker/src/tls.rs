//! TLS on the listener: the certificate and key from `--tls-cert`/`--tls-key`, and the
//! refusal to serve plaintext on a network address unless `--insecure-plaintext` says so.

use crate::settings::Settings;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The first byte of every TLS handshake record; a plaintext Joint frame starts with the
/// high byte of its length, which is 0 for any frame under 16 MiB.
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// Why the listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// Only one of the two flags was given.
    #[error("--tls-cert and --tls-key go together: give both or neither")]
    Incomplete,
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot use {path} as the TLS {what}: {reason}")]
    File {
        /// The file given.
        path: String,
        /// `certificate` or `key`.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the certificate and key (e.g. the key does not match).
    #[error("the TLS certificate and key do not work together: {0}")]
    Config(#[from] rustls::Error),
    /// A network address without TLS and without `--insecure-plaintext`.
    #[error(
        "refusing to listen on {0} without TLS: passwords and tokens would cross the network in clear; \
         give --tls-cert and --tls-key, listen on a loopback address, or pass --insecure-plaintext"
    )]
    PlaintextOnNetwork(SocketAddr),
}

/// The listener's TLS acceptor, when the settings ask for TLS.
pub fn acceptor(settings: &Settings) -> Result<Option<TlsAcceptor>, TlsSetupError> {
    let (cert, key) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => return Ok(None),
        _ => return Err(TlsSetupError::Incomplete),
    };
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::File {
        path: key.display().to_string(),
        what: "key",
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |reason: String| TlsSetupError::File { path: path.display().to_string(), what: "certificate", reason };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Refuses plaintext on an address other hosts can reach, unless the operator insisted.
pub fn check_plaintext(bound: SocketAddr, tls: bool, insecure_plaintext: bool) -> Result<(), TlsSetupError> {
    if tls || insecure_plaintext || bound.ip().is_loopback() {
        Ok(())
    } else {
        Err(TlsSetupError::PlaintextOnNetwork(bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_refused_only_on_network_addresses() {
        let any: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:7878".parse().unwrap();
        assert!(check_plaintext(loopback, false, false).is_ok());
        assert!(check_plaintext(loopback6, false, false).is_ok());
        assert!(matches!(check_plaintext(any, false, false), Err(TlsSetupError::PlaintextOnNetwork(_))));
        assert!(check_plaintext(any, true, false).is_ok());
        assert!(check_plaintext(any, false, true).is_ok());
    }
}
