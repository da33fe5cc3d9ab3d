//! The KServe v2 client against aisec's own server on 127.0.0.1, and against servers that
//! are down or answer garbage.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use aisec_ml::data::BuiltinDataset;
use aisec_ml::kserve::{serve, KServeModel};
use aisec_ml::model::{Classifier, QueryOutput};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{init_network, train, TrainConfig};

fn trained_iris() -> NativeModel {
    let (train_set, _) = BuiltinDataset::Iris.split();
    let net = init_network(Architecture::Mlp, &train_set, 1).unwrap();
    let (net, _) = train(
        net,
        &train_set,
        &TrainConfig::for_architecture(Architecture::Mlp, 1),
        None,
        |_| {},
    );
    NativeModel::new(net, Manifest::new(Architecture::Mlp, &train_set, 1))
}

#[test]
fn remote_answers_match_the_served_model() {
    let native = Arc::new(trained_iris());
    let server = serve(native.clone(), "iris", "127.0.0.1:0").unwrap();
    let url = format!("kserve+http://{}/v2/models/iris", server.addr);
    let remote = KServeModel::connect(&url, Some(200), Duration::from_secs(10)).unwrap();
    assert_eq!(remote.info().input_shape, vec![4]);
    assert_eq!(remote.info().num_classes, 3);
    let (_, test) = BuiltinDataset::Iris.split();
    let local = match native.query(&test.x).unwrap() {
        QueryOutput::Probabilities(p) => p,
        other => panic!("{other:?}"),
    };
    let over_the_wire = match remote.query(&test.x).unwrap() {
        QueryOutput::Probabilities(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(local.len(), over_the_wire.len());
    for (a, b) in local.iter().zip(&over_the_wire) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    assert_eq!(remote.budget().used(), test.len() as u64);
    assert!(
        remote.gradients().is_none(),
        "a remote model is a black box"
    );
    // The adversary's budget is enforced on the client side.
    let err = remote
        .query(
            &[
                test.x.clone(),
                test.x.clone(),
                test.x.clone(),
                test.x.clone(),
                test.x.clone(),
                test.x.clone(),
            ]
            .concat(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("budget exhausted"), "{err}");
}

#[test]
fn a_server_that_is_down_is_a_clear_error() {
    // Bind then drop a listener to find a port nobody serves.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = KServeModel::connect(
        &format!("kserve+http://127.0.0.1:{port}/v2/models/x"),
        None,
        Duration::from_secs(2),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("did not answer") && err.contains("is it running"),
        "{err}"
    );
}

/// A server on a free port that answers up to `connections` requests with `status` and
/// `body`, and the error connecting a client to it gives.
fn error_from_canned_server(
    status: &'static str,
    body: &'static str,
    connections: usize,
) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().take(connections).flatten() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    KServeModel::connect(
        &format!("kserve+http://{addr}/v2/models/x"),
        None,
        Duration::from_secs(2),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn garbage_answers_are_clear_errors() {
    let err = error_from_canned_server("200 OK", "this is not json", 2);
    assert!(err.contains("not a KServe v2 classifier"), "{err}");
}

#[test]
fn a_server_error_is_reported_with_the_servers_own_message() {
    let err = error_from_canned_server(
        "500 Internal Server Error",
        r#"{"error": "ValueError: dim 4 is out of range"}"#,
        8,
    );
    assert!(
        err.contains("answered with an error") && err.contains("ValueError: dim 4"),
        "{err}"
    );
    assert!(!err.contains("is it running"), "{err}");
}

#[test]
fn unknown_model_names_are_reported() {
    let server = serve(Arc::new(trained_iris()), "iris", "127.0.0.1:0").unwrap();
    let err = KServeModel::connect(
        &format!("kserve+http://{}/v2/models/other", server.addr),
        None,
        Duration::from_secs(5),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("404"), "{err}");
}
