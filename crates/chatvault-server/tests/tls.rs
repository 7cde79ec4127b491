//! HTTPS through rustls: the server serves with a CA-signed certificate, sets HSTS and
//! Secure cookies, and with `--tls-min 1.3` refuses a TLS 1.2 client.

// Tests stop at the first broken expectation; unwrap is how they say so.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use chatvault_archive::{Archive, KeyProvider};
use chatvault_server::{Config, Shared};

struct Pki {
    ca_der: rustls::pki_types::CertificateDer<'static>,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn pki(dir: &std::path::Path) -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    Pki {
        ca_der: ca.der().clone(),
        cert,
        key,
    }
}

fn client(
    ca: &rustls::pki_types::CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn get(
    addr: std::net::SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<String> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let sock = TcpStream::connect(addr)?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut out = vec![];
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // The server may close without close_notify after a Connection: close reply.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn https_with_a_tls_floor() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path());
    let data = dir.path().join("data");
    Archive::init(&data, &KeyProvider::default()).unwrap();
    let mut a = Archive::open(&data, &KeyProvider::default()).unwrap();
    let mut cfg = Config::default();
    cfg.listen = "127.0.0.1:0".into();
    let access = chatvault_server::open_access(&mut a, cfg.security.clone()).unwrap();
    let tls = chatvault_server::tls_config(&p.cert, &p.key, "1.3").unwrap();
    let state = Arc::new(Shared::new(a, access, cfg, true));
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.spawn(async move {
        chatvault_server::serve(state, Some(tls), move |addr| tx.send(addr).unwrap())
            .await
            .unwrap();
    });
    let addr = rx.recv().unwrap();

    let reply = get(
        addr,
        client(&p.ca_der, &[&rustls::version::TLS13]),
        "/api/v1/health",
    )
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{reply}"
    );
    let reply = get(
        addr,
        client(&p.ca_der, &[&rustls::version::TLS13]),
        "/api/v1/nothing",
    )
    .unwrap();
    assert!(reply.contains("route.unknown"), "{reply}");

    let refused = get(
        addr,
        client(&p.ca_der, &[&rustls::version::TLS12]),
        "/api/v1/health",
    );
    assert!(
        refused.is_err(),
        "a TLS 1.2 client must be refused under --tls-min 1.3: {refused:?}"
    );

    // Bad key material is a clear error naming the file.
    let e = chatvault_server::tls_config(&p.cert, &dir.path().join("missing.pem"), "1.3")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.pem"), "{e}");
    let e = chatvault_server::tls_config(&p.cert, &p.key, "1.1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("1.2 or 1.3"), "{e}");
    rt.shutdown_background();
}
