//! TLS for clients: which certificates to trust, and the stream a connection runs over.
//!
//! A broker started with `--tls-cert`/`--tls-key` speaks TLS only (PROTOCOL.md §1.1). A
//! client trusts either the system's root certificates or the CA certificates of one PEM
//! file (a private CA, or the broker's self-signed certificate), and checks the broker's
//! certificate against the host part of the address it dials, a DNS name or an IP address.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read or holds no PEM certificate.
    #[error("cannot use {path} as CA certificates: {reason}")]
    CaFile {
        /// The file given.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The system's certificate store could not be read, or it is empty.
    #[error("cannot load the system's root certificates: {0}")]
    SystemRoots(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The TLS side of a [`crate::ClientConfig`]: the certificates trusted for the broker's.
#[derive(Clone)]
pub struct TlsConfig {
    connector: TlsConnector,
    trust: String,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").field("trust", &self.trust).finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Trusts the operating system's root certificates (what a public CA signed).
    pub fn system_roots() -> Result<TlsConfig, TlsError> {
        let certs = rustls_native_certs::load_native_certs().map_err(|e| TlsError::SystemRoots(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::SystemRoots("no usable certificate found".into()));
        }
        TlsConfig::with_roots(roots, "system roots".into())
    }

    /// Trusts only the certificates in the PEM file `path`.
    pub fn from_ca_file(path: &Path) -> Result<TlsConfig, TlsError> {
        let bad = |reason: String| TlsError::CaFile { path: path.to_owned(), reason };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
        TlsConfig::with_roots(roots, format!("CA file {}", path.display()))
    }

    /// The system roots, or the CA file when one is given.
    pub fn new(ca_file: Option<&Path>) -> Result<TlsConfig, TlsError> {
        match ca_file {
            Some(path) => TlsConfig::from_ca_file(path),
            None => TlsConfig::system_roots(),
        }
    }

    fn with_roots(roots: rustls::RootCertStore, trust: String) -> Result<TlsConfig, TlsError> {
        // The provider is named, not taken from the process default, so that another crate
        // enabling a second provider cannot make this ambiguous.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConfig { connector: TlsConnector::from(Arc::new(config)), trust })
    }

    /// Runs the TLS handshake on `stream`, checking the certificate against `addr`'s host.
    async fn handshake(&self, addr: &str, stream: TcpStream) -> Result<Stream, String> {
        let host = server_name(addr)?;
        match self.connector.connect(host, stream).await {
            Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
            Err(err) => Err(handshake_failure(&err)),
        }
    }
}

/// Opens a TCP connection to `addr` (`host:port`) and, with `tls`, runs the TLS handshake
/// on it; the error says which step failed. Programs that write frames themselves (such as
/// `joint raw`) use it; [`crate::Client`] does.
pub async fn connect(addr: &str, tls: Option<&TlsConfig>) -> Result<Stream, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    match tls {
        Some(tls) => tls.handshake(addr, stream).await,
        None => Ok(Stream::Plain(stream)),
    }
}

/// The server name to check the certificate against: the host part of `host:port`
/// (brackets around an IPv6 address removed).
fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| format!("{host:?} is not a host name or IP address for TLS"))
}

/// A handshake error in words that say what to check.
fn handshake_failure(err: &std::io::Error) -> String {
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidMessage(_)) | Some(rustls::Error::InappropriateMessage { .. }) => {
            format!("TLS handshake failed ({err}): the broker did not answer in TLS; is it serving plaintext?")
        }
        Some(rustls::Error::InvalidCertificate(cause)) if format!("{cause:?}").contains("CaUsedAsEndEntity") => {
            format!(
                "TLS handshake failed: the broker presents a CA certificate as its own ({err}); \
                 give it one made with basicConstraints CA:FALSE, or one signed by that CA"
            )
        }
        Some(rustls::Error::InvalidCertificate(_)) => {
            format!("TLS handshake failed: the broker's certificate is not trusted ({err}); check --tls-ca")
        }
        _ => format!("TLS handshake failed: {err}"),
    }
}

/// A connection to the broker: plain TCP, or TLS over TCP.
pub enum Stream {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS; boxed, as its state is much larger than a socket's.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_is_the_host_part() {
        assert_eq!(server_name("chat.example.org:7878").unwrap(), ServerName::try_from("chat.example.org").unwrap());
        assert!(matches!(server_name("127.0.0.1:7878").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("[::1]:7878").unwrap(), ServerName::IpAddress(_)));
        assert!(server_name("bad host:1").is_err());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_with_its_name() {
        let err = TlsConfig::from_ca_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let empty = std::env::temp_dir().join(format!("joint-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = TlsConfig::from_ca_file(&empty).unwrap_err();
        std::fs::remove_file(&empty).unwrap();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
