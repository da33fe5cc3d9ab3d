//! Stored runs: every command's shared JSON run object, kept in SQLite with the columns the
//! web UI and the CLI filter and aggregate on (target, family, ATLAS techniques, date, worst
//! severity).
//!
//! One file, WAL journal (readers do not wait for the writer), foreign keys on, schema
//! migrations numbered in `migrations/` and applied in order once (SQLite's `user_version`
//! says how far a file is). The run object itself is stored as written, so a later version of
//! aisec shows an old run as it was reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aisec_core::Severity;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Environment variable naming the directory aisec keeps its data in.
pub const DATA_DIR_ENV: &str = "AISEC_DATA_DIR";
/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "aisec.db";

/// The schema, one script per version, applied in order.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_runs.sql")];

/// Runs bigger than this are refused (a run object is kilobytes to a few megabytes).
pub const MAX_RUN_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} was written by a newer aisec (schema version {found}; this one knows up to {known})")]
    NewerSchema {
        path: String,
        found: i64,
        known: usize,
    },
    #[error("not a run object: {0}")]
    NotARun(String),
    #[error("no data directory: set {DATA_DIR_ENV} or HOME")]
    NoDataDir,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `$AISEC_DATA_DIR/aisec.db`, else `$XDG_DATA_HOME/aisec/aisec.db`, else
/// `$HOME/.local/share/aisec/aisec.db`.
pub fn default_path() -> Result<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let dir = if let Some(d) = nonempty(DATA_DIR_ENV) {
        PathBuf::from(d)
    } else if let Some(d) = nonempty("XDG_DATA_HOME") {
        PathBuf::from(d).join("aisec")
    } else if let Some(h) = nonempty("HOME") {
        PathBuf::from(h).join(".local/share/aisec")
    } else {
        return Err(StoreError::NoDataDir);
    };
    Ok(dir.join(DATABASE_FILE))
}

/// One stored run as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub stored_at: String,
    pub kind: String,
    pub name: String,
    pub family: String,
    pub target: String,
    pub findings: i64,
    pub worst_severity: Option<Severity>,
    pub techniques: Vec<String>,
}

/// A stored run with its report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRun {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub report: serde_json::Value,
}

/// Which runs to list; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Exact target name.
    pub target: Option<String>,
    /// The family: the run name's prefix (`evasion`, `extract`, `membership`, `scan` …).
    pub family: Option<String>,
    /// An ATLAS technique the run exercised (a parent also matches its sub-techniques).
    pub technique: Option<String>,
    /// Stored on or after / before this date (`YYYY-MM-DD` or a full timestamp).
    pub since: Option<String>,
    pub until: Option<String>,
    /// At most this many, newest first (0: no limit).
    pub limit: usize,
    /// Skip this many of the newest first (paging).
    pub offset: usize,
}

/// `YYYY-MM-DD` naming a day that exists (2026-02-29 does not; 2028-02-29 does).
pub fn is_calendar_date(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return false;
    }
    let number = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// What the stored runs say about one technique: the matrix heat map's cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TechniqueHeat {
    pub technique: String,
    pub runs: i64,
    pub findings: i64,
    pub worst_severity: Option<Severity>,
    pub last_seen: String,
}

pub struct Store {
    conn: Connection,
    path: String,
}

impl Store {
    /// Opens (creating it and its directory when missing) and migrates the database.
    pub fn open(path: &Path) -> Result<Store> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        })?;
        let store = Store { conn, path: shown };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// An in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        let store = Store {
            conn,
            path: ":memory:".into(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn configure(&self) -> Result<()> {
        // WAL so that the web UI reads while a command writes; a writer waits up to 5 s.
        let mode: rusqlite::Result<String> =
            self.conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
        self.sql(mode)?;
        self.sql(self.conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
        ))
    }

    fn migrate(&self) -> Result<()> {
        let version: i64 =
            self.sql(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)))?;
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, script) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let next = i + 1;
            self.sql(self.conn.execute_batch(&format!(
                "BEGIN; {script}\nPRAGMA user_version = {next}; COMMIT;"
            )))?;
            tracing::info!(path = %self.path, version = next, "store schema migrated");
        }
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.sql(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    /// Stores a run object (the JSON every command prints with `--format json`) and returns
    /// its id. The object must have `kind`, `name` and `target` strings and a `findings`
    /// array; anything else in it is kept as it is.
    pub fn add(&mut self, run: &serde_json::Value) -> Result<i64> {
        let indexed = Indexed::of(run)?;
        let text = serde_json::to_string(run).map_err(|e| StoreError::NotARun(e.to_string()))?;
        if text.len() > MAX_RUN_BYTES {
            return Err(StoreError::NotARun(format!(
                "{} bytes, more than the {MAX_RUN_BYTES} a stored run may have",
                text.len()
            )));
        }
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(wrap)?;
        tx.execute(
            "INSERT INTO runs (kind, name, family, target, findings, worst_severity, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                indexed.kind,
                indexed.name,
                indexed.family,
                indexed.target,
                indexed.findings,
                indexed.worst.map(rank),
                text
            ],
        )
        .map_err(wrap)?;
        let id = tx.last_insert_rowid();
        for (technique, (findings, worst)) in &indexed.techniques {
            tx.execute(
                "INSERT INTO run_techniques (run_id, technique, findings, worst_severity) VALUES (?1, ?2, ?3, ?4)",
                params![id, technique, findings, worst.map(rank)],
            )
            .map_err(wrap)?;
        }
        tx.commit().map_err(wrap)?;
        Ok(id)
    }

    /// One run with its report, if it exists.
    pub fn get(&self, id: i64) -> Result<Option<StoredRun>> {
        let row = self.sql(
            self.conn
                .query_row(
                    &format!("SELECT {SUMMARY_COLUMNS}, report FROM runs WHERE id = ?1"),
                    [id],
                    |r| Ok((summary_of(r)?, r.get::<_, String>(8)?)),
                )
                .optional(),
        )?;
        let Some((mut summary, text)) = row else {
            return Ok(None);
        };
        summary.techniques = self.techniques_of(id)?;
        let report = serde_json::from_str(&text)
            .map_err(|e| StoreError::NotARun(format!("stored run {id}: {e}")))?;
        Ok(Some(StoredRun { summary, report }))
    }

    fn techniques_of(&self, id: i64) -> Result<Vec<String>> {
        let mut stmt = self.sql(self.conn.prepare_cached(
            "SELECT technique FROM run_techniques WHERE run_id = ?1 ORDER BY technique",
        ))?;
        let rows = self.sql(stmt.query_map([id], |r| r.get(0)))?;
        rows.map(|r| self.sql(r)).collect()
    }

    /// Runs that match `filter`, newest first.
    pub fn list(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let mut args: Vec<String> = Vec::new();
        let mut clauses = Vec::new();
        if let Some(t) = &filter.target {
            clauses.push(format!("target = {}", placeholder(&mut args, t)));
        }
        if let Some(f) = &filter.family {
            clauses.push(format!("family = {}", placeholder(&mut args, f)));
        }
        if let Some(t) = &filter.technique {
            // The technique itself or one of its sub-techniques (AML.T0043 → AML.T0043.000).
            let t = placeholder(&mut args, t);
            // A prefix compared as text: no LIKE, so `%` and `_` in the value match themselves.
            clauses.push(format!(
                "id IN (SELECT run_id FROM run_techniques WHERE technique = {t} OR substr(technique, 1, length({t}) + 1) = {t} || '.')"
            ));
        }
        if let Some(s) = &filter.since {
            clauses.push(format!("stored_at >= {}", placeholder(&mut args, s)));
        }
        if let Some(u) = &filter.until {
            clauses.push(format!("stored_at < {}", placeholder(&mut args, u)));
        }
        let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM runs");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY id DESC");
        // SQLite's integers are i64: a larger count means "all of them".
        let clamp = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        match (clamp(filter.limit), clamp(filter.offset)) {
            (0, 0) => {}
            (0, offset) => sql.push_str(&format!(" LIMIT -1 OFFSET {offset}")),
            (limit, offset) => sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}")),
        }
        let mut stmt = self.sql(self.conn.prepare(&sql))?;
        let rows = self.sql(stmt.query_map(rusqlite::params_from_iter(args.iter()), summary_of))?;
        let mut out = Vec::new();
        for row in rows {
            let mut summary = self.sql(row)?;
            summary.techniques = self.techniques_of(summary.id)?;
            out.push(summary);
        }
        Ok(out)
    }

    /// Per technique: the runs that exercised it, the findings naming it, the worst of their
    /// severities and when it was last seen.
    pub fn heat(&self) -> Result<Vec<TechniqueHeat>> {
        let mut stmt = self.sql(self.conn.prepare(
            "SELECT t.technique, COUNT(*), SUM(t.findings), MAX(t.worst_severity), MAX(r.stored_at)
             FROM run_techniques t JOIN runs r ON r.id = t.run_id
             GROUP BY t.technique ORDER BY t.technique",
        ))?;
        let rows = self.sql(stmt.query_map([], |r| {
            Ok(TechniqueHeat {
                technique: r.get(0)?,
                runs: r.get(1)?,
                findings: r.get(2)?,
                worst_severity: r.get::<_, Option<i64>>(3)?.and_then(severity),
                last_seen: r.get(4)?,
            })
        }))?;
        rows.map(|r| self.sql(r)).collect()
    }

    /// How many runs are stored.
    pub fn count(&self) -> Result<i64> {
        self.sql(
            self.conn
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)),
        )
    }
}

const SUMMARY_COLUMNS: &str = "id, stored_at, kind, name, family, target, findings, worst_severity";

/// Binds `value` as the next numbered parameter.
fn placeholder(args: &mut Vec<String>, value: &str) -> String {
    args.push(value.to_string());
    format!("?{}", args.len())
}

fn summary_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: r.get(0)?,
        stored_at: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        family: r.get(4)?,
        target: r.get(5)?,
        findings: r.get(6)?,
        worst_severity: r.get::<_, Option<i64>>(7)?.and_then(severity),
        techniques: Vec::new(),
    })
}

fn rank(s: Severity) -> i64 {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0) as i64
}

fn severity(rank: i64) -> Option<Severity> {
    usize::try_from(rank)
        .ok()
        .and_then(|i| Severity::ALL.get(i).copied())
}

/// The columns a run object is indexed by.
struct Indexed {
    kind: String,
    name: String,
    family: String,
    target: String,
    findings: i64,
    worst: Option<Severity>,
    /// Technique → (findings naming it, their worst severity).
    techniques: BTreeMap<String, (i64, Option<Severity>)>,
}

impl Indexed {
    fn of(run: &serde_json::Value) -> Result<Indexed> {
        if !run.is_object() {
            return Err(StoreError::NotARun(
                "not a JSON object (a run object is what `--format json` prints)".into(),
            ));
        }
        check_shape(run, "", 0)?;
        let text = |field: &str| -> Result<String> {
            run.get(field)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| StoreError::NotARun(format!("field `{field}` must be a string")))
        };
        let (kind, name, target) = (text("kind")?, text("name")?, text("target")?);
        if !run.get("findings").is_some_and(|f| f.is_array()) {
            return Err(StoreError::NotARun(
                "field `findings` must be an array".into(),
            ));
        }
        let family = name
            .split_once('.')
            .map_or(name.as_str(), |(family, _)| family)
            .to_string();
        let mut indexed = Indexed {
            kind,
            name,
            family,
            target,
            findings: 0,
            worst: None,
            techniques: BTreeMap::new(),
        };
        indexed.collect(run, 0)?;
        Ok(indexed)
    }

    /// The run's own techniques and findings, then its defended and adaptive runs'.
    fn collect(&mut self, run: &serde_json::Value, depth: usize) -> Result<()> {
        if depth > 4 {
            return Err(StoreError::NotARun(
                "runs nested more than 4 deep (defended / adaptive)".into(),
            ));
        }
        for id in run["atlas"].as_array().into_iter().flatten() {
            if let Some(id) = id.as_str().filter(|s| is_technique(s)) {
                self.techniques.entry(id.to_string()).or_insert((0, None));
            }
        }
        for (i, finding) in run["findings"].as_array().into_iter().flatten().enumerate() {
            let severity: Option<Severity> =
                serde_json::from_value(finding["severity"].clone()).ok();
            let Some(severity) = severity else {
                return Err(StoreError::NotARun(format!(
                    "findings[{i}].severity must be one of info, low, medium, high, critical"
                )));
            };
            self.findings += 1;
            self.worst = self.worst.max(Some(severity));
            for id in finding["atlas"].as_array().into_iter().flatten() {
                if let Some(id) = id.as_str().filter(|s| is_technique(s)) {
                    let cell = self.techniques.entry(id.to_string()).or_insert((0, None));
                    cell.0 += 1;
                    cell.1 = cell.1.max(Some(severity));
                }
            }
        }
        for nested in ["defended", "adaptive"] {
            if run[nested].is_object() {
                self.collect(&run[nested], depth + 1)?;
            }
        }
        Ok(())
    }
}

/// The fields the pages and the index read, with the types `--format json` gives them: a run
/// object that lacks them, or holds other types, is refused rather than shown half blank.
fn check_shape(run: &serde_json::Value, at: &str, depth: usize) -> Result<()> {
    use serde_json::Value;
    let bad = |field: &str, expected: &str| {
        StoreError::NotARun(format!("field `{at}{field}` must be {expected}"))
    };
    let shown_text = |v: &str| !v.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    for field in ["kind", "name", "target"] {
        match run.get(field).and_then(Value::as_str) {
            Some(v) if field != "target" && v.trim().is_empty() => {
                return Err(bad(field, "a non-empty string"))
            }
            Some(v) if !shown_text(v) => return Err(bad(field, "text without control characters")),
            Some(_) => {}
            None => return Err(bad(field, "a string")),
        }
    }
    if run
        .get("data")
        .is_some_and(|d| !d.is_string() && !d.is_null())
    {
        return Err(bad("data", "a string"));
    }
    match run.get("metrics") {
        Some(Value::Object(m)) => {
            if let Some((k, _)) = m.iter().find(|(_, v)| !(v.is_number() || v.is_null())) {
                return Err(bad(&format!("metrics.{k}"), "a number"));
            }
        }
        _ => return Err(bad("metrics", "an object of numbers")),
    }
    let strings = |v: Option<&Value>, field: &str| -> Result<()> {
        match v {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(()),
            _ => Err(bad(field, "an array of strings")),
        }
    };
    strings(run.get("atlas"), "atlas")?;
    for (i, f) in run["findings"].as_array().into_iter().flatten().enumerate() {
        let field = |name: &str| format!("findings[{i}].{name}");
        if !f.is_object() {
            return Err(bad(&format!("findings[{i}]"), "an object"));
        }
        match f.get("title").and_then(Value::as_str) {
            Some(t) if !t.trim().is_empty() && shown_text(t) => {}
            _ => {
                return Err(bad(
                    &field("title"),
                    "a non-empty string without control characters",
                ))
            }
        }
        strings(f.get("atlas"), &field("atlas"))?;
        match f.get("mitigations") {
            None | Some(Value::Null) => {}
            Some(Value::Array(ms)) => {
                for (j, m) in ms.iter().enumerate() {
                    let at = field(&format!("mitigations[{j}]"));
                    if !m.get("id").is_some_and(Value::is_string) {
                        return Err(bad(&format!("{at}.id"), "a string"));
                    }
                    strings(m.get("phases"), &format!("{at}.phases"))?;
                }
            }
            Some(_) => return Err(bad(&field("mitigations"), "an array")),
        }
    }
    for nested in ["defended", "adaptive"] {
        match run.get(nested) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Object(_)) if depth < 4 => {
                check_shape(v, &format!("{at}{nested}."), depth + 1)?;
                if !v.get("findings").is_some_and(Value::is_array) {
                    return Err(bad(&format!("{nested}.findings"), "an array"));
                }
            }
            Some(Value::Object(_)) => {
                return Err(StoreError::NotARun(
                    "runs nested more than 4 deep (defended / adaptive)".into(),
                ))
            }
            Some(_) => return Err(bad(nested, "a run object")),
        }
    }
    Ok(())
}

/// `AML.T0043` or `AML.T0043.000`: what a run or finding names besides tactics and
/// mitigations.
fn is_technique(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("AML.T") else {
        return false;
    };
    let (number, sub) = rest.split_once('.').unwrap_or((rest, "000"));
    number.len() == 4
        && sub.len() == 3
        && number.bytes().all(|b| b.is_ascii_digit())
        && sub.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
