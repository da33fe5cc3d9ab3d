//! kserve+https: certificates verified (against the CA given with --ca-cert, or refused
//! without it), the bearer token sent, and a refused token named. The server is a minimal
//! KServe v2 responder behind rustls on 127.0.0.1 with a CA and a leaf made for the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use aisec_ml::kserve::{KServeModel, KServeOptions};
use aisec_ml::model::{Classifier, OutputKind};

struct TlsServer {
    port: u16,
    ca_pem: String,
}

fn respond(path: &str, authorized: bool) -> (u16, String) {
    if !authorized {
        return (401, r#"{"error":"missing or wrong token"}"#.into());
    }
    match path {
        "/v2/models/m/ready" => (200, String::new()),
        "/v2/models/m" => (
            200,
            r#"{"name":"m","platform":"test","inputs":[{"name":"x","datatype":"FP32","shape":[-1,2]}],"outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,2]}]}"#.into(),
        ),
        "/v2/models/m/infer" => (
            200,
            r#"{"model_name":"m","outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,2],"data":[0.25,0.75]}]}"#.into(),
        ),
        _ => (404, "{}".into()),
    }
}

fn start_tls_server(token: &'static str) -> TlsServer {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "aisec test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                // One request per connection is enough for a client that reconnects.
                let mut reader = BufReader::new(&mut tls);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return; // the handshake failed: an untrusting client
                }
                let mut length = 0usize;
                let mut authorized = false;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    let lower = header.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if header.trim_end() == format!("Authorization: Bearer {token}")
                        || lower.trim_end() == format!("authorization: bearer {token}")
                    {
                        authorized = true;
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                let (status, body) = respond(&path, authorized);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    TlsServer {
        port,
        ca_pem: ca_cert.pem(),
    }
}

fn options(ca: Option<std::path::PathBuf>, token: &str) -> KServeOptions {
    KServeOptions {
        timeout: Duration::from_secs(10),
        ca_cert: ca,
        bearer_token: Some(token.to_string()),
        ..KServeOptions::default()
    }
}

#[test]
fn https_with_the_ca_and_the_token() {
    let server = start_tls_server("s3cret");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let url = format!("kserve+https://127.0.0.1:{}/v2/models/m", server.port);

    let model = KServeModel::connect_with(&url, &options(Some(ca.clone()), "s3cret")).unwrap();
    assert_eq!(model.info().input_shape, vec![2]);
    assert_eq!(model.info().num_classes, 2);
    assert_eq!(model.output_kind(), OutputKind::Probabilities);
    assert_eq!(model.evaluate(&[0.0, 1.0]).unwrap(), vec![1]);
    assert!(model.info().description.contains("https://127.0.0.1"));

    // Verification is on by default: Mozilla's roots do not know this CA.
    let err = KServeModel::connect_with(&url, &options(None, "s3cret"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TLS") && err.contains("--ca-cert"), "{err}");

    let err = KServeModel::connect_with(&url, &options(Some(ca), "wrong"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("401") && err.contains("--bearer-token"),
        "{err}"
    );
}
