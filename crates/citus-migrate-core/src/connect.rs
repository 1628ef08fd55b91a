//! Opening connections (TLS per `sslmode`, timeouts, keepalives) and running statements in a way that
//! works through PgBouncer / PgCat in transaction pooling mode: statements without parameters use the
//! simple protocol or unnamed statements (`query_typed`), never named prepared statements that would
//! have to survive between transactions.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, DigitallySignedStruct, InconsistentKeys, RootCertStore, SignatureScheme,
};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::{ConnInfo, SslMode};
use crate::error::{db_message, ConnectHint, Error, Result, Side};

/// Opens one connection, trying the hosts in order as libpq does; `connect_timeout` bounds each
/// host's whole attempt (TCP, TLS, startup and authentication), not only the TCP connect. The
/// connection's driver task runs on the current tokio runtime.
pub async fn connect(info: &ConnInfo) -> Result<Client> {
    let base = pg_config(info)?;
    let n = info.hosts.len().max(info.hostaddrs.len()).max(1);
    let mut last = None;
    for i in 0..n {
        let mut config = base.clone();
        let host = info.hosts.get(i);
        if let Some(h) = host {
            config.host(h);
        }
        if let Some(a) = info.hostaddrs.get(i) {
            let ip: IpAddr = a.parse().map_err(|_| Error::ConnString {
                side: info.side,
                message: format!("hostaddr item {} is not a numeric IP address", i + 1),
            })?;
            config.hostaddr(ip);
        }
        if let Some(p) = info.ports.get(i) {
            config.port(*p);
        }
        if let Some(p) = info.password_for(i) {
            config.password(p);
        }
        // libpq never uses TLS on Unix-domain sockets, whatever sslmode says.
        let unix = host.is_some_and(|h| h.starts_with('/')) && info.hostaddrs.get(i).is_none();
        let attempt = connect_host(info, config, unix);
        let result = match info.connect_timeout {
            Some(t) => match tokio::time::timeout(t, attempt).await {
                Ok(r) => r,
                Err(_) => Err(Error::Connect {
                    side: info.side,
                    endpoint: info.endpoint(),
                    reason: format!(
                        "timed out after {}s (connect_timeout) waiting for {}:{} to complete the connection",
                        t.as_secs(),
                        host.or(info.hostaddrs.get(i)).map(String::as_str).unwrap_or("?"),
                        info.ports.get(i).copied().unwrap_or(5432)
                    ),
                    hint: Some(ConnectHint::NoHandshake),
                    worker: None,
                    source: None,
                }),
            },
            None => attempt.await,
        };
        match result {
            Ok(client) => return Ok(client),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one host"))
}

/// One host: TLS as `sslmode` asks (`allow` tries without TLS first and retries with TLS when the
/// server rejects the plain connection).
async fn connect_host(
    info: &ConnInfo,
    mut config: tokio_postgres::Config,
    unix: bool,
) -> Result<Client> {
    if unix || info.sslmode == SslMode::Disable {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        return plain(&config).await.map_err(|e| connect_error(info, e));
    }
    if info.sslmode == SslMode::Allow {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        match plain(&config).await {
            Ok(client) => return Ok(client),
            Err(e) if e.as_db_error().is_none() => return Err(connect_error(info, e)),
            Err(_) => config.ssl_mode(tokio_postgres::config::SslMode::Require),
        };
    }
    let tls = tls_connector(info)?;
    match config.connect(tls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            Ok(client)
        }
        // As libpq does for `prefer`: a server that offers TLS but fails the handshake is tried again
        // without TLS (a server without TLS at all is handled by the driver's own `prefer`).
        Err(e)
            if info.sslmode == SslMode::Prefer
                && e.to_string().starts_with("error performing TLS handshake") =>
        {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            plain(&config).await.map_err(|plain_error| {
                let mut error = connect_error(info, plain_error);
                if let Error::Connect { reason, .. } = &mut error {
                    reason.push_str(&format!(" (after TLS failed: {})", db_message(&e)));
                }
                error
            })
        }
        Err(e) => Err(connect_error(info, e)),
    }
}

async fn plain(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Everything but the hosts and ports, which [`connect`] sets per attempt.
fn pg_config(info: &ConnInfo) -> Result<tokio_postgres::Config> {
    let mut c = tokio_postgres::Config::new();
    c.user(&info.user)
        .dbname(&info.dbname)
        .application_name(&info.application_name);
    if let Some(o) = &info.options {
        c.options(o);
    }
    if let Some(t) = info.connect_timeout {
        c.connect_timeout(t);
    }
    if let Some(t) = info.tcp_user_timeout {
        c.tcp_user_timeout(t);
    }
    c.keepalives(info.keepalives)
        .keepalives_idle(info.keepalives_idle)
        .keepalives_interval(info.keepalives_interval)
        .keepalives_retries(info.keepalives_count);
    if info.target_session_attrs.as_deref() == Some("read-write") {
        c.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
    }
    c.ssl_mode(match info.sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tokio_postgres::config::SslMode::Require
        }
    });
    Ok(c)
}

/// Builds the TLS connector (rustls) with libpq's semantics: `require`/`prefer` encrypt without
/// checking the certificate (unless a root certificate is given, which makes `require` act as
/// `verify-ca`); `verify-ca` checks the chain; `verify-full` checks the chain and the host name.
/// (rustls rather than the system's OpenSSL: measured on a 2-stream copy over TLS, OpenSSL 3.0 took
/// 1.2 s of our CPU against 0.4 s here, most of the difference in its per-record locking.)
fn tls_connector(info: &ConnInfo) -> Result<MakeRustlsConnect> {
    let bad = |message: String| Error::ConnString {
        side: info.side,
        message,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let root = match info.sslrootcert.as_deref() {
        Some("system") => None,
        Some(path) => Some(std::path::PathBuf::from(path)),
        None => {
            let default = std::env::var_os("HOME")
                .map(|h| std::path::Path::new(&h).join(".postgresql/root.crt"));
            match info.sslmode {
                SslMode::VerifyCa | SslMode::VerifyFull => default.filter(|p| p.exists()),
                _ => None,
            }
        }
    };
    let verify_chain = matches!(info.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
        || (info.sslmode == SslMode::Require && info.sslrootcert.is_some());
    if verify_chain && root.is_none() && info.sslrootcert.is_none() {
        return Err(bad(format!(
            "sslmode={} needs a root certificate: set sslrootcert (or PGSSLROOTCERT) to a CA file, or to \"system\"",
            if info.sslmode == SslMode::VerifyCa { "verify-ca" } else { "verify-full" }
        )));
    }
    let mut verifier = Verifier {
        webpki: None,
        pinned: Vec::new(),
        check_name: info.sslmode == SslMode::VerifyFull,
        provider: provider.clone(),
    };
    if verify_chain {
        let mut roots = RootCertStore::empty();
        match &root {
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect())
                    .map_err(|e| match e {
                        rustls::pki_types::pem::Error::Io(e) => {
                            bad(format!("cannot read sslrootcert {}: {e}", path.display()))
                        }
                        e => bad(format!(
                            "sslrootcert {} holds no valid PEM certificate: {e:?}",
                            path.display()
                        )),
                    })?;
                if certs.is_empty() {
                    return Err(bad(format!(
                        "sslrootcert {} holds no certificate",
                        path.display()
                    )));
                }
                for cert in certs {
                    roots.add(cert.clone()).map_err(|e| {
                        bad(format!(
                            "sslrootcert {} holds a certificate that cannot be a root: {e}",
                            path.display()
                        ))
                    })?;
                    verifier.pinned.push(cert);
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(bad(
                        "sslrootcert=system, but the system has no usable root certificates".into(),
                    ));
                }
            }
        }
        verifier.webpki = Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| bad(format!("cannot set up TLS: {e}")))?,
        );
    }
    let signing = provider.clone();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match (&info.sslcert, &info.sslkey) {
        (Some(cert), Some(key)) => {
            let unusable = |e: String| {
                bad(format!(
                    "sslcert/sslkey are not a usable PEM certificate and private key: {e}"
                ))
            };
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect())
                .map_err(|e| unusable(format!("{}: {e:?}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| unusable(format!("{}: {e:?}", key.display())))?;
            let key = signing
                .key_provider
                .load_private_key(key)
                .map_err(|e| unusable(e.to_string()))?;
            let certified = CertifiedKey::new(chain, key);
            // A key that does not belong to the certificate is refused here; a certificate the
            // check cannot read (an X.509 v1 one, as `openssl x509 -req` makes) goes to the server,
            // which judges it, as with libpq.
            if let Err(e @ rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) =
                certified.keys_match()
            {
                return Err(unusable(e.to_string()));
            }
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Checks the server's certificate as `sslmode` asks.
#[derive(Debug)]
struct Verifier {
    /// The chain check against the root certificates; `None` when the certificate is not checked
    /// (`require`/`prefer` without a root certificate). The handshake's signatures always are.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// The root certificates as given: a server presenting one of them itself (a self-signed
    /// certificate marked as a CA, which the chain check refuses as a server's) passes `verify-ca`,
    /// as with libpq.
    pinned: Vec<CertificateDer<'static>>,
    /// `verify-full`: the certificate must also name the host.
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Ok(v) => Ok(v),
            // The chain is checked before the name: a wrong name means a good chain.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            // A pinned certificate must still be within its dates (webpki checks those before the
            // certificate's role, so an expired one reports that, and is refused here).
            Err(
                e @ rustls::Error::InvalidCertificate(
                    CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. },
                ),
            ) => Err(e),
            Err(_)
                if !self.check_name
                    && self
                        .pinned
                        .iter()
                        .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn connect_error(info: &ConnInfo, e: tokio_postgres::Error) -> Error {
    let reason = db_message(&e);
    let lower = reason.to_lowercase();
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let hint = if code == "28P01"
        || lower.contains("password authentication failed")
        || lower.contains("sasl authentication failed")
    {
        Some(ConnectHint::WrongPassword)
    } else if lower.contains("password missing") || lower.contains("no password") {
        Some(ConnectHint::PasswordMissing)
    } else if code == "3D000" {
        Some(ConnectHint::NoDatabase)
    } else if code == "28000" && lower.contains("no encryption") {
        Some(ConnectHint::TlsRequired)
    } else if code == "28000" {
        Some(ConnectHint::HbaRefused)
    } else if code == "42501" {
        Some(ConnectHint::NoConnectPrivilege)
    } else if code == "53300" {
        Some(ConnectHint::NoSlots)
    } else if lower.contains("connection refused") {
        Some(ConnectHint::Refused)
    } else if lower.contains("timed out") || lower.contains("timeout") {
        Some(ConnectHint::TimedOut)
    } else if lower.contains("failed to lookup") || lower.contains("name or service not known") {
        Some(ConnectHint::UnknownHost)
    } else if lower.contains("ssl")
        || lower.contains("tls")
        || lower.contains("certificate")
        || lower.contains("fatal alert")
    {
        Some(ConnectHint::Tls)
    } else if lower.contains("no such file") && info.hosts.iter().any(|h| h.starts_with('/')) {
        Some(ConnectHint::NoSocket)
    } else {
        None
    };
    Error::Connect {
        side: info.side,
        endpoint: info.endpoint(),
        reason,
        hint,
        worker: info.worker_node.then(|| info.node_address()),
        source: Some(e),
    }
}

/// Runs a statement through the unnamed-statement path (safe behind transaction-pooling proxies) and
/// returns its rows. `params` carry their types explicitly, so nothing is prepared beforehand.
pub async fn query(
    client: &Client,
    side: Side,
    context: &str,
    sql: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Vec<Row>> {
    client
        .query_typed(sql, params)
        .await
        .map_err(|e| Error::db(side, context, e))
}

/// Runs one or more statements with the simple protocol.
pub async fn execute(client: &Client, side: Side, context: &str, sql: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| Error::db(side, context, e))
}

/// Runs a script that holds its own `BEGIN … COMMIT` with the simple protocol; when it fails, rolls
/// back what it left open, so the connection is usable again.
pub async fn execute_script(client: &Client, side: Side, context: &str, sql: &str) -> Result<()> {
    let result = execute(client, side, context, sql).await;
    if result.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

/// Runs statements with the simple protocol and returns the row count of each (`INSERT`, `UPDATE`,
/// `DELETE`; 0 for the others), in order.
pub async fn execute_counted(
    client: &Client,
    side: Side,
    context: &str,
    sql: &str,
) -> Result<Vec<u64>> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| Error::db(side, context, e))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(n),
            _ => None,
        })
        .collect())
}
