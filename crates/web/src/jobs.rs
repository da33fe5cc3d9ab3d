//! Assessments started from the browser: only plans the operator put in the folder given to
//! `aisec serve --plans DIR` (a request names a plan by its file name in that folder, never
//! a path), each run as `aisec assess PLAN --out DATA/assessments/N --store` in a child
//! process; its progress lines stream to the page as server-sent events (one small
//! same-origin script reads them; without it the page still shows the log on reload), and
//! the finished report is served from the assessment's folder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;

use crate::auth::check_csrf;
use crate::pages::layout;
use crate::{AppState, PageError};

/// Where assessments may come from and go to; set by `aisec serve`.
pub struct Assessments {
    /// The operator's folder of plans (`--plans`).
    pub plans: Option<PathBuf>,
    /// The aisec executable that runs them.
    pub exe: Option<PathBuf>,
    /// Their output folders: `DIR/N/`.
    pub out: PathBuf,
    pub jobs: Mutex<Vec<Arc<Job>>>,
}

pub struct Job {
    pub id: usize,
    pub plan: String,
    pub out: PathBuf,
    pub log: Mutex<Vec<String>>,
    /// None while running; the exit status's words when done.
    pub done: Mutex<Option<String>>,
    /// The server's own paths and the names shown in their place: the log and the report
    /// tell a signed-in user what ran, not where the server keeps its files.
    pub masks: Vec<(String, &'static str)>,
}

impl Job {
    fn masked(&self, text: &str) -> String {
        self.masks.iter().fold(text.to_string(), |t, (path, name)| {
            t.replace(path.as_str(), name)
        })
    }
}

/// Each path as given and as the file system resolves it, longest first so a folder inside
/// another is replaced before its parent.
fn masks(paths: &[(&Path, &'static str)]) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (path, name) in paths {
        let forms = [
            Some(path.to_path_buf()),
            std::path::absolute(path).ok(),
            std::fs::canonicalize(path).ok(),
        ];
        for p in forms.into_iter().flatten() {
            let p = p.display().to_string();
            if p.len() > 1 && !out.iter().any(|(q, _)| *q == p) {
                out.push((p, name));
            }
        }
    }
    out.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    out
}

/// The plans in the operator's folder, by file name.
fn plans(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

pub async fn page(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let a = &s.assessments;
    let jobs: Vec<Arc<Job>> = a.jobs.lock().map(|j| j.clone()).unwrap_or_default();
    crate::page_with_forms(&headers, "Assessments", |csrf| {
        html! {
            h1 { "Assessments" }
            @match &a.plans {
                None => p.muted { "No plans to run: start " code { "aisec serve --plans DIR" } " with a folder of assessment plans (" code { "aisec threat-model PROFILE --plan DIR/plan.yaml" } "). Only plans in that folder can be started here." },
                Some(dir) => {
                    @let names = plans(dir);
                    @if names.is_empty() { p.muted { "The plans folder holds no .yaml plan." } }
                    @for name in &names {
                        form.inline action="/assessments" method="post" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="plan" value=(name);
                            code { (name) } " "
                            button type="submit" { "Start" }
                        }
                    }
                }
            }
            h2 { "Started here" }
            @if jobs.is_empty() { p.muted { "None since this server started." } }
            ul { @for j in jobs.iter().rev() {
                li { a href={"/assessments/" (j.id)} { "#" (j.id) " " (j.plan) } " — " (j.done.lock().ok().and_then(|d| d.clone()).unwrap_or_else(|| "running".into())) }
            } }
        }
    })
}

pub async fn start(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| crate::form_field(&fields, k);
    if let Err(e) = check_csrf(&headers, get("csrf")) {
        return e.into_response();
    }
    let a = &s.assessments;
    let (Some(dir), Some(exe)) = (&a.plans, &a.exe) else {
        return PageError::new(
            StatusCode::NOT_FOUND,
            "this server runs no assessments (--plans)",
        )
        .into_response();
    };
    // The plan is named, not given: only a file the listing offers can run.
    let wanted = get("plan");
    let Some(name) = plans(dir).into_iter().find(|n| n == wanted) else {
        return PageError::new(StatusCode::NOT_FOUND, "no such plan in the plans folder")
            .into_response();
    };
    let mut jobs = match a.jobs.lock() {
        Ok(j) => j,
        Err(_) => return PageError::internal("the job list is poisoned").into_response(),
    };
    // One at a time: an assessment takes the machine's cores.
    if let Some(running) = jobs
        .iter()
        .find(|j| j.done.lock().map(|d| d.is_none()).unwrap_or(false))
    {
        return PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "assessment #{} is still running; start the next when it has finished",
                running.id
            ),
        )
        .into_response();
    }
    let id = jobs.len() + 1;
    let out = a.out.join(format!("{}-{id}", std::process::id()));
    let job = Arc::new(Job {
        id,
        plan: name.clone(),
        out: out.clone(),
        log: Mutex::new(Vec::new()),
        done: Mutex::new(None),
        masks: masks(&[
            (&out, "[assessment folder]"),
            (&s.store_path, "[run database]"),
            (dir, "[plans folder]"),
        ]),
    });
    let child = Command::new(exe)
        .arg("assess")
        .arg(dir.join(&name))
        .arg("--out")
        .arg(&out)
        .arg("--store")
        .arg("--store-db")
        .arg(&s.store_path)
        .env("AISEC_PROGRESS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return PageError::internal(format!("cannot start aisec assess: {e}")).into_response()
        }
    };
    let stderr = child.stderr.take();
    let running = job.clone();
    std::thread::spawn(move || {
        if let Some(stderr) = stderr {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = running.masked(&line);
                if let Ok(mut log) = running.log.lock() {
                    log.push(line);
                }
            }
        }
        let words = match child.wait() {
            Ok(status) => match status.code() {
                Some(0) => "finished: every criterion passed".to_string(),
                Some(1) => "finished: a criterion failed or was not measured".to_string(),
                Some(c) => format!("finished with errors (exit {c})"),
                None => "killed".to_string(),
            },
            Err(e) => format!("lost: {e}"),
        };
        if let Ok(mut done) = running.done.lock() {
            *done = Some(words);
        }
    });
    jobs.push(job);
    Redirect::to(&format!("/assessments/{id}")).into_response()
}

fn job(s: &AppState, id: usize) -> Result<Arc<Job>, PageError> {
    s.assessments
        .jobs
        .lock()
        .ok()
        .and_then(|j| j.get(id.wrapping_sub(1)).cloned())
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, format!("no assessment {id}")))
}

pub async fn show(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<usize>,
) -> Result<Response, PageError> {
    let j = job(&s, id)?;
    let log = j.log.lock().map(|l| l.clone()).unwrap_or_default();
    let done = j.done.lock().ok().and_then(|d| d.clone());
    Ok(layout(
        &format!("Assessment {id}"),
        html! {
            h1 { "Assessment #" (id) ": " (j.plan) }
            p #status data-events={"/api/assessments/" (id) "/events"} {
                (done.clone().unwrap_or_else(|| "running…".into()))
            }
            pre #log { @for line in &log { (line) "\n" } }
            p #report hidden[done.is_none()] { a href={"/assessments/" (id) "/report"} { "The report" } }
            script src="/assets/progress.js" {}
        },
    )
    .into_response())
}

/// Progress lines as they come (`line` events), then `done` with the outcome.
pub async fn events(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<usize>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>, PageError>
{
    let j = job(&s, id)?;
    let stream =
        futures_util::stream::unfold((j, 0usize, false), |(j, sent, finished)| async move {
            if finished {
                return None;
            }
            loop {
                let lines: Vec<String> = j
                    .log
                    .lock()
                    .map(|l| l[sent.min(l.len())..].to_vec())
                    .unwrap_or_default();
                if let Some(line) = lines.first() {
                    return Some((
                        Ok(Event::default().event("line").data(line.clone())),
                        (j, sent + 1, false),
                    ));
                }
                if let Some(done) = j.done.lock().ok().and_then(|d| d.clone()) {
                    return Some((
                        Ok(Event::default().event("done").data(done)),
                        (j, sent, true),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The assessment's own HTML report, once written. It styles itself inline, so this response
/// alone allows inline style; it still runs no script.
pub async fn report(
    State(s): State<Arc<AppState>>,
    UrlPath(id): UrlPath<usize>,
) -> Result<Response, PageError> {
    let j = job(&s, id)?;
    let html = std::fs::read_to_string(j.out.join("assessment.html"))
        .map_err(|_| PageError::new(StatusCode::NOT_FOUND, "the report is not written yet"))?;
    let html = j.masked(&html);
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"),
    );
    Ok(res)
}
