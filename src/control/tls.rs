//! The RTMPS part of the configuration: `[tls]` (TLS listeners, their certificate and key,
//! the CA that `rtmps://` upstreams are verified against), its checks, and loading the PEM
//! files into the rustls configurations the shards run with.
//!
//! Defaults live here, in the `Default` impl. The I/O is reading the PEM files (and, for
//! `rtmps://` upstreams without `ca_file`, the system's root certificates) in
//! [`Config::shard_settings_with_tls`], at start and on every SIGHUP: a reload that brings a
//! new certificate hands it to the shards, whose new handshakes use it while running
//! connections keep theirs. rustls runs on the `ring` provider, chosen explicitly.
use super::config::Config;
use super::validate::{check_addrs, ConfigProblem};
use crate::relay::url::RtmpUrl;
use crate::shard::core::TlsServer;
use crate::shard::{ListenerSettings, ShardSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[tls]`: RTMPS listeners and upstream verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// `ADDR:PORT` of listeners that speak RTMP inside TLS (publish and play, like the plain
    /// ones; `server.proxy_protocol` applies to them too: the PROXY header comes first).
    pub listen: Vec<String>,
    /// PEM file with the certificate chain the TLS listeners present (leaf first).
    pub cert: String,
    /// PEM file with the private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// PEM file of the CA certificates `rtmps://` upstreams and `https://` access callbacks
    /// are verified against; "" = the system's root certificates.
    pub ca_file: String,
}

/// The RTMPS flags; each replaces its `[tls]` key from the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsFlags {
    /// Listen for RTMPS (RTMP inside TLS) on ADDR:PORT (repeatable; tls.listen).
    #[arg(id = "tls_listen", long = "tls-listen", value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,

    /// PEM certificate chain of the TLS listeners (tls.cert; read again on SIGHUP).
    #[arg(id = "tls_cert", long = "tls-cert", value_name = "PEM")]
    pub cert: Option<PathBuf>,

    /// PEM private key of --tls-cert (tls.key).
    #[arg(id = "tls_key", long = "tls-key", value_name = "PEM")]
    pub key: Option<PathBuf>,

    /// PEM CA certificates rtmps:// upstreams and https:// access callbacks must chain to
    /// instead of the system roots (tls.ca_file).
    #[arg(id = "tls_ca", long = "tls-ca", value_name = "PEM")]
    pub ca: Option<PathBuf>,
}

impl TlsFlags {
    /// Lays the flags over `config`, noting in `from_flags` which keys they replaced.
    pub(crate) fn apply(
        &self,
        config: &mut Config,
        from_flags: &mut HashSet<(&'static str, &'static str)>,
    ) {
        if !self.listen.is_empty() {
            config.tls.listen = self.listen.iter().map(ToString::to_string).collect();
            from_flags.insert(("tls.listen", "--tls-listen"));
        }
        let paths = [
            (&self.cert, &mut config.tls.cert, "tls.cert", "--tls-cert"),
            (&self.key, &mut config.tls.key, "tls.key", "--tls-key"),
            (&self.ca, &mut config.tls.ca_file, "tls.ca_file", "--tls-ca"),
        ];
        for (flag, key, name, flag_name) in paths {
            if let Some(path) = flag {
                *key = path.display().to_string();
                from_flags.insert((name, flag_name));
            }
        }
    }
}

/// Why the TLS files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsLoadError {
    #[error("cannot read {what} {path}: {source}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{what} {path} holds no certificate")]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("tls.cert / tls.key: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("no usable system root certificate for rtmps:// upstreams (set tls.ca_file)")]
    NoRoots,
}

/// The crypto provider of every rustls configuration here (ring: no aws-lc build).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a certificate chain and its key into a server configuration.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsLoadError> {
    let chain = certificates(cert, "tls.cert")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsLoadError::Pem {
        what: "tls.key",
        path: key.to_owned(),
        source,
    })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// The CA certificates in `ca` (`tls.ca_file`), or without one the system's root
/// certificates: what `rtmps://` upstreams and `https://` access callbacks must chain to.
pub fn root_certificates(ca: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsLoadError> {
    match ca {
        Some(path) => certificates(path, "tls.ca_file"),
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "reading the system root certificates");
            }
            if found.certs.is_empty() {
                return Err(TlsLoadError::NoRoots);
            }
            Ok(found.certs)
        }
    }
}

/// A client configuration that trusts the CA certificates in `ca` (or, without one, the
/// system's root certificates).
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsLoadError> {
    let certs = root_certificates(ca)?;
    let mut roots = rustls::RootCertStore::empty();
    if ca.is_some() {
        // A configured CA must parse whole; the system's store may hold odd entries.
        for cert in certs {
            roots.add(cert)?;
        }
    } else if roots.add_parsable_certificates(certs).0 == 0 {
        return Err(TlsLoadError::NoRoots);
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsLoadError> {
    let pem = |source| TlsLoadError::Pem {
        what,
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(TlsLoadError::NoCertificate {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

impl Config {
    /// The TLS listen addresses (the valid ones; `validate` reports the others).
    pub fn tls_listen_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .listen
            .iter()
            .filter_map(|a| a.trim().parse().ok())
            .collect()
    }

    /// [`Config::shard_settings`] with the TLS listeners (after the plain ones) and the
    /// upstream verification loaded from the PEM files. Called at start and on SIGHUP.
    pub fn shard_settings_with_tls(&self) -> Result<ShardSettings, TlsLoadError> {
        let mut settings = self.shard_settings();
        let listen = self.tls_listen_addrs();
        if !listen.is_empty() {
            let server = TlsServer(server_config(
                Path::new(&self.tls.cert),
                Path::new(&self.tls.key),
            )?);
            let template = settings.listeners.first().cloned();
            for addr in listen {
                let mut l = template
                    .clone()
                    .unwrap_or_else(|| ListenerSettings::rtmp(addr));
                l.addr = addr;
                l.tls = Some(server.clone());
                settings.listeners.push(l);
            }
        }
        let upstream_tls = settings
            .relay
            .apps
            .iter()
            .flat_map(|a| a.origins.iter().chain(&a.push))
            .any(|u| u.url.tls);
        if upstream_tls {
            let ca = (!self.tls.ca_file.is_empty()).then(|| Path::new(&self.tls.ca_file));
            settings.tls_client = Some(client_config(ca)?);
        }
        Ok(settings)
    }

    /// Problems in `[tls]`: addresses, a listener without certificate or key, and
    /// `rtmps://` hosts that are no valid TLS server names.
    pub(crate) fn validate_tls(&self, out: &mut Vec<ConfigProblem>) {
        let t = &self.tls;
        check_addrs("tls.listen", &t.listen, out);
        if !t.listen.is_empty() {
            for (key, value) in [("tls.cert", &t.cert), ("tls.key", &t.key)] {
                if value.is_empty() {
                    out.push(ConfigProblem {
                        key,
                        index: None,
                        value: "\"\"".into(),
                        reason: "is empty: a TLS listener (tls.listen) needs a PEM file".into(),
                    });
                }
            }
        }
        for app in &self.apps {
            for (key, list) in [("app.origins", &app.origins), ("app.push", &app.push)] {
                for (i, text) in list.iter().enumerate() {
                    let Ok(url) = RtmpUrl::parse_app(text) else {
                        continue;
                    };
                    if url.tls
                        && rustls::pki_types::ServerName::try_from(url.host.as_str()).is_err()
                    {
                        out.push(ConfigProblem {
                            key,
                            index: Some(i),
                            value: format!("{text:?}"),
                            reason: "has a host that is no DNS name or IP address for TLS".into(),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_listener_needs_cert_and_key() {
        let mut c = Config::default();
        c.tls.listen = vec!["127.0.0.1:1936".into(), "nope".into()];
        let mut out = Vec::new();
        c.validate_tls(&mut out);
        let keys: Vec<_> = out.iter().map(|p| p.key).collect();
        assert_eq!(keys, ["tls.listen", "tls.cert", "tls.key"]);
        assert_eq!(out[0].index, Some(1));
    }

    #[test]
    fn missing_files_are_reported_with_their_key() {
        let mut c = Config::default();
        c.tls.listen = vec!["127.0.0.1:1936".into()];
        c.tls.cert = "/nonexistent/cert.pem".into();
        c.tls.key = "/nonexistent/key.pem".into();
        let e = c.shard_settings_with_tls().unwrap_err();
        assert!(e.to_string().contains("tls.cert"), "{e}");
    }

    #[test]
    fn loads_a_generated_certificate() {
        let dir = std::env::temp_dir().join(format!("rtmp-edge-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
        let mut c = Config::default();
        c.server.listen = vec!["127.0.0.1:1935".into()];
        c.tls.listen = vec!["127.0.0.1:1936".into()];
        c.tls.cert = cert_path.display().to_string();
        c.tls.key = key_path.display().to_string();
        let s = c.shard_settings_with_tls().unwrap();
        assert_eq!(s.listeners.len(), 2);
        assert!(s.listeners[0].tls.is_none());
        assert!(s.listeners[1].tls.is_some());
        assert!(s.tls_client.is_none(), "no rtmps:// upstream");
        // The same file as a CA for upstreams.
        assert!(client_config(Some(&cert_path)).is_ok());
        assert!(
            client_config(Some(&key_path)).is_err(),
            "a key is no certificate"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
