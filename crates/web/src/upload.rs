//! A form's fields from either encoding: URL-encoded (pasted text, API clients) or
//! multipart (the same form with a file chosen). A file input named `NAME_file` fills the
//! field `NAME` when a file was chosen, so a handler reads one field whichever way the text
//! came. Files are read as UTF-8 text within a size limit, never stored or executed.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;

use crate::PageError;

/// The largest file a form takes (the case-study import and the profile both take 1 MiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// The fields of a posted form, in the order sent.
pub struct Fields(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            return Ok(Fields(fields));
        }
        let mut parts = Multipart::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let mut fields = Vec::new();
        let mut files = Vec::new();
        let bad = |m: String| PageError::new(StatusCode::BAD_REQUEST, m).into_response();
        while let Some(part) = parts
            .next_field()
            .await
            .map_err(|e| bad(format!("the form could not be read: {e}")))?
        {
            let name = part.name().unwrap_or_default().to_string();
            let is_file = part.file_name().is_some();
            let bytes = part
                .bytes()
                .await
                .map_err(|e| bad(format!("field {name:?} could not be read: {e}")))?;
            if bytes.len() > MAX_FILE_BYTES {
                return Err(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "field {name:?}: {} bytes; at most {MAX_FILE_BYTES} are taken",
                        bytes.len()
                    ),
                )
                .into_response());
            }
            if is_file && bytes.is_empty() {
                continue; // a file input left empty
            }
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| bad(format!("field {name:?}: not UTF-8 text")))?;
            match name.strip_suffix("_file") {
                Some(target) if is_file => {
                    let text = text
                        .strip_prefix('\u{feff}')
                        .map(str::to_string)
                        .unwrap_or(text);
                    files.push((target.to_string(), text))
                }
                _ => fields.push((name, text)),
            }
        }
        for (target, text) in files {
            fields.retain(|(k, _)| *k != target);
            fields.push((target, text));
        }
        Ok(Fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{app, block_on, LOCAL};
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};

    const BOUNDARY: &str = "aisec-test-boundary";

    /// A multipart body: plain fields, then files as (input name, file name, bytes).
    fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes());
        }
        for (name, file, bytes) in files {
            body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").bytes());
            body.extend_from_slice(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{BOUNDARY}--\r\n").bytes());
        body
    }

    fn post(path: &str, csrf: &str, body: Vec<u8>) -> Request<Body> {
        Request::post(path)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::COOKIE, format!("aisec_csrf={csrf}"))
            .body(Body::from(body))
            .unwrap()
    }

    const PROFILE: &str = "name: Uploaded scoring\nmodels:\n  - name: scorer\n    task: classification\n    outputs: probabilities\n    access: [public]\n    artifact: models/scorer.pt\nobjectives: [confidentiality, integrity]\n";

    #[test]
    fn a_chosen_profile_file_replaces_the_text_and_gives_its_plan() {
        block_on(async {
            let app = app();
            let csrf = "c".repeat(32);
            let body = multipart(
                &[
                    ("csrf", &csrf),
                    ("profile", "name: pasted"),
                    ("action", "view"),
                ],
                &[("profile_file", "system.yaml", PROFILE.as_bytes())],
            );
            let (status, _, page) = app.send(post("/threat-model", &csrf, body), LOCAL).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert!(
                page.contains("Uploaded scoring"),
                "the file's profile was modelled"
            );
            assert!(page.contains("AML.T0040"));
            assert!(
                page.contains("models/scorer.pt"),
                "the profile is shown for editing"
            );

            // An empty file input leaves the pasted text in charge.
            let body = multipart(
                &[("csrf", &csrf), ("profile", PROFILE), ("action", "plan")],
                &[("profile_file", "", b"")],
            );
            let (status, headers, plan) = app.send(post("/threat-model", &csrf, body), LOCAL).await;
            assert_eq!(status, StatusCode::OK, "{plan}");
            assert!(headers[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .contains("plan.yaml"));
            let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&plan).unwrap();
            assert!(
                parsed["steps"].as_sequence().is_some_and(|s| !s.is_empty()),
                "{plan}"
            );
            let cwd = std::env::current_dir().unwrap();
            assert!(
                !plan.contains(&*cwd.to_string_lossy()),
                "no path of the server's in the plan: {plan}"
            );
            assert!(
                plan.contains("models/scorer.pt"),
                "relative paths stay relative: {plan}"
            );

            // An absolute path stays absolute (not rewritten against the server's folder),
            // and a value the plan's command lines would read as an option is refused.
            let with = |artifact: &str| PROFILE.replace("models/scorer.pt", artifact);
            let body = multipart(
                &[
                    ("csrf", &csrf),
                    ("profile", &with("/srv/models/m.pkl")),
                    ("action", "plan"),
                ],
                &[],
            );
            let (status, _, plan) = app.send(post("/threat-model", &csrf, body), LOCAL).await;
            assert_eq!(status, StatusCode::OK, "{plan}");
            assert!(plan.contains("- /srv/models/m.pkl"), "{plan}");
            let body = multipart(
                &[
                    ("csrf", &csrf),
                    ("profile", &with("--store-db=/tmp/x.db")),
                    ("action", "plan"),
                ],
                &[],
            );
            let (status, _, page) = app.send(post("/threat-model", &csrf, body), LOCAL).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(
                page.contains("starts with &#39;-&#39;") || page.contains("starts with '-'"),
                "{page}"
            );
        });
    }

    #[test]
    fn uploads_are_text_within_the_limit_and_carry_the_csrf_value() {
        block_on(async {
            let app = app();
            let csrf = "d".repeat(32);
            let big = vec![b'a'; super::MAX_FILE_BYTES + 1];
            let body = multipart(&[("csrf", &csrf)], &[("yaml_file", "big.yaml", &big)]);
            let (status, _, _) = app
                .send(post("/casestudy/import", &csrf, body), LOCAL)
                .await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

            let body = multipart(
                &[("csrf", &csrf)],
                &[("yaml_file", "bin.yaml", &[0xff, 0xfe, 0])],
            );
            let (status, _, page) = app
                .send(post("/casestudy/import", &csrf, body), LOCAL)
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(page.contains("not UTF-8"), "{page}");

            let body = multipart(&[("csrf", "wrong")], &[("yaml_file", "a.yaml", b"id: x")]);
            let (status, _, _) = app
                .send(post("/casestudy/import", &csrf, body), LOCAL)
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN);

            let body = b"--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc".to_vec();
            let req = Request::post("/casestudy/import")
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body(Body::from(body))
                .unwrap();
            let (status, _, _) = app.send(req, LOCAL).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "a truncated form is refused"
            );
        });
    }

    #[test]
    fn a_chosen_case_study_file_is_validated() {
        block_on(async {
            let app = app();
            let csrf = "e".repeat(32);
            let body = multipart(
                &[("csrf", &csrf), ("action", "preview")],
                &[("yaml_file", "cs.yaml", b"id: AML.CS9999\nname: <b>x</b>\n")],
            );
            let (status, _, page) = app
                .send(post("/casestudy/import", &csrf, body), LOCAL)
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
            assert!(!page.contains("<b>x</b>"), "the file's text renders inert");
            assert!(
                page.contains("&lt;b&gt;x&lt;/b&gt;"),
                "and is shown back for editing"
            );
        });
    }
}
