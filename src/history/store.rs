use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::error::{HistoryError, Result};
use crate::error::ArgError;

/// `PRAGMA application_id` of a history file: "PBH1" (promethean-bench history), so a foreign
/// SQLite database is recognised and refused instead of being written into.
pub const APPLICATION_ID: i64 = 0x5042_4831;
/// `PRAGMA user_version`: the schema this build writes and reads. A file with a larger number
/// was written by a newer version and is refused.
pub const SCHEMA_VERSION: i64 = 1;
/// How long a writer waits for another process's transaction before giving up. A run's append
/// takes milliseconds; this only matters when many processes append at once.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp TEXT NOT NULL,
  package_version TEXT NOT NULL,
  plan_format_version INTEGER NOT NULL,
  label TEXT NOT NULL
);
CREATE TABLE results (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  fixture TEXT NOT NULL,
  fixture_hash TEXT,
  family TEXT NOT NULL,
  code TEXT NOT NULL,
  success INTEGER NOT NULL,
  errors_before INTEGER NOT NULL,
  errors_after INTEGER NOT NULL,
  duration_ms REAL NOT NULL,
  attempts INTEGER NOT NULL,
  tokens INTEGER
);
CREATE INDEX results_by_series ON results(model, endpoint, run_id);
";

/// One fixture's outcome for one model in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRecord {
    pub model: String,
    /// The model server; empty for built-in models run without one.
    pub endpoint: String,
    pub fixture: String,
    /// Content hash of the fixture folder, when known.
    pub fixture_hash: Option<String>,
    pub family: String,
    pub code: String,
    pub success: bool,
    pub errors_before: i64,
    pub errors_after: i64,
    pub duration_ms: f64,
    pub attempts: i64,
    pub tokens: Option<i64>,
}

/// A run to append.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// ISO 8601 time of the run.
    pub timestamp: String,
    pub package_version: String,
    pub plan_format_version: i64,
    /// What was run (the fixture set), for people reading the history.
    pub label: String,
    pub results: Vec<ResultRecord>,
}

/// A run read back, with its id (ids grow with each append).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub id: i64,
    pub run: RunRecord,
}

/// A (model, endpoint) pair the history holds results for, with how many runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub model: String,
    pub endpoint: String,
    pub runs: i64,
}

/// One history file. The connection is behind a mutex: calls come from a thread pool.
pub struct HistoryStore {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

fn sqlite<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(rusqlite::Error) -> HistoryError + 'a {
    move |source| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => HistoryError::NotAHistory {
            path: path.to_path_buf(),
            reason: "the file is not an SQLite database".into(),
        },
        Some(ErrorCode::DatabaseCorrupt) => HistoryError::NotAHistory {
            path: path.to_path_buf(),
            reason: "the database is damaged".into(),
        },
        _ => HistoryError::Sqlite {
            op,
            path: path.to_path_buf(),
            source,
        },
    }
}

impl HistoryStore {
    /// Opens (creating when missing) the history at `path`. The parent folder must exist.
    /// Refuses, and leaves untouched, a file that is not a history or has a newer schema.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path: PathBuf = path.into();
        if path.as_os_str().is_empty() {
            return Err(ArgError::invalid_type("path", "a non-empty file path").into());
        }
        if path.is_dir() {
            return Err(HistoryError::NotAHistory {
                path,
                reason: "it is a folder".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(sqlite("open", &path))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sqlite("set busy timeout", &path))?;
        // Reading the header first: a file that is not SQLite fails here, before any write. Both
        // fields in one read transaction: read apart, another process creating the schema in
        // between gives an application id of 0 beside its new version, a torn header.
        let (app, version) = {
            let read = conn
                .unchecked_transaction()
                .map_err(sqlite("begin", &path))?;
            let identity = Self::identity(&read, &path)?;
            read.commit().map_err(sqlite("commit", &path))?;
            identity
        };
        if app != APPLICATION_ID && !(app == 0 && version == 0) {
            return Err(HistoryError::NotAHistory {
                path,
                reason: format!("its SQLite application id is {app:#x}, not {APPLICATION_ID:#x}"),
            });
        }
        check_version(&path, version)?;
        // Switching the journal needs a moment with no other connection in a transaction, and
        // SQLite answers "busy" at once rather than through the busy timeout: retried until it.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => break other.map_err(sqlite("switch to WAL", &path))?,
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(HistoryError::NotAHistory {
                path,
                reason: format!("its journal cannot be switched to WAL (it stays {mode})"),
            });
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(sqlite("configure", &path))?;
        let mut store = Self {
            path,
            conn: Mutex::new(Some(conn)),
        };
        if app == 0 {
            store.initialize()?;
        }
        Ok(store)
    }

    fn identity(conn: &Connection, path: &Path) -> Result<(i64, i64)> {
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(sqlite("read the header", path))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sqlite("read the header", path))?;
        Ok((app, version))
    }

    /// Creates the schema in an empty file. Another process may be doing the same: the check
    /// and the creation are one immediate transaction, so exactly one of them creates it.
    fn initialize(&mut self) -> Result<()> {
        let path = self.path.clone();
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().ok_or(HistoryError::Closed)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite("begin", &path))?;
        let (app, version) = Self::identity(&tx, &path)?;
        if app == APPLICATION_ID {
            return check_version(&path, version);
        }
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(sqlite("read the schema", &path))?;
        if app != 0 || tables > 0 {
            return Err(HistoryError::NotAHistory {
                path,
                reason: "it is another application's SQLite database".into(),
            });
        }
        tx.execute_batch(SCHEMA)
            .map_err(sqlite("create the schema", &path))?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
        .map_err(sqlite("stamp the schema", &path))?;
        tx.commit().map_err(sqlite("commit", &path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection, &Path) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().ok_or(HistoryError::Closed)?;
        f(conn, &self.path)
    }

    /// Appends one run, all of it or nothing, and returns its id.
    pub fn append(&self, run: &RunRecord) -> Result<i64> {
        validate(run)?;
        self.with(|conn, path| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite("begin", path))?;
            tx.execute(
                "INSERT INTO runs (timestamp, package_version, plan_format_version, label) VALUES (?1, ?2, ?3, ?4)",
                params![run.timestamp, run.package_version, run.plan_format_version, run.label],
            )
            .map_err(sqlite("append a run", path))?;
            let id = tx.last_insert_rowid();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO results (run_id, model, endpoint, fixture, fixture_hash, family, code, success, errors_before, errors_after, duration_ms, attempts, tokens)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )
                    .map_err(sqlite("append results", path))?;
                for r in &run.results {
                    insert
                        .execute(params![
                            id,
                            r.model,
                            r.endpoint,
                            r.fixture,
                            r.fixture_hash,
                            r.family,
                            r.code,
                            r.success,
                            r.errors_before,
                            r.errors_after,
                            r.duration_ms,
                            r.attempts,
                            r.tokens
                        ])
                        .map_err(sqlite("append results", path))?;
                }
            }
            tx.commit().map_err(sqlite("commit", path))?;
            Ok(id)
        })
    }

    /// Every (model, endpoint) the history holds, with its number of runs, by model.
    pub fn series(&self) -> Result<Vec<Series>> {
        self.with(|conn, path| {
            let mut q = conn
                .prepare("SELECT model, endpoint, count(DISTINCT run_id) FROM results GROUP BY model, endpoint ORDER BY model, endpoint")
                .map_err(sqlite("list models", path))?;
            let rows = q
                .query_map([], |r| {
                    Ok(Series {
                        model: r.get(0)?,
                        endpoint: r.get(1)?,
                        runs: r.get(2)?,
                    })
                })
                .map_err(sqlite("list models", path))?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(sqlite("list models", path))
        })
    }

    /// The last `limit` runs of one (model, endpoint), oldest first, each with only that
    /// model's results. Read in one transaction, so a run being appended is seen whole or not.
    pub fn runs(&self, model: &str, endpoint: &str, limit: u32) -> Result<Vec<StoredRun>> {
        if limit == 0 {
            return Err(ArgError::out_of_range("limit", "a whole number >= 1", "0").into());
        }
        self.with(|conn, path| {
            let tx = conn.transaction().map_err(sqlite("begin", path))?;
            let mut runs = Vec::new();
            {
                let mut q = tx
                    .prepare(
                        "SELECT id, timestamp, package_version, plan_format_version, label FROM runs
                         WHERE id IN (SELECT DISTINCT run_id FROM results WHERE model = ?1 AND endpoint = ?2 ORDER BY run_id DESC LIMIT ?3)
                         ORDER BY id",
                    )
                    .map_err(sqlite("read runs", path))?;
                let rows = q
                    .query_map(params![model, endpoint, limit], |r| {
                        Ok(StoredRun {
                            id: r.get(0)?,
                            run: RunRecord {
                                timestamp: r.get(1)?,
                                package_version: r.get(2)?,
                                plan_format_version: r.get(3)?,
                                label: r.get(4)?,
                                results: Vec::new(),
                            },
                        })
                    })
                    .map_err(sqlite("read runs", path))?;
                for row in rows {
                    runs.push(row.map_err(sqlite("read runs", path))?);
                }
                let mut q = tx
                    .prepare_cached(
                        "SELECT model, endpoint, fixture, fixture_hash, family, code, success, errors_before, errors_after, duration_ms, attempts, tokens
                         FROM results WHERE run_id = ?1 AND model = ?2 AND endpoint = ?3 ORDER BY rowid",
                    )
                    .map_err(sqlite("read results", path))?;
                for run in &mut runs {
                    let rows = q
                        .query_map(params![run.id, model, endpoint], |r| {
                            Ok(ResultRecord {
                                model: r.get(0)?,
                                endpoint: r.get(1)?,
                                fixture: r.get(2)?,
                                fixture_hash: r.get(3)?,
                                family: r.get(4)?,
                                code: r.get(5)?,
                                success: r.get(6)?,
                                errors_before: r.get(7)?,
                                errors_after: r.get(8)?,
                                duration_ms: r.get(9)?,
                                attempts: r.get(10)?,
                                tokens: r.get(11)?,
                            })
                        })
                        .map_err(sqlite("read results", path))?;
                    for row in rows {
                        run.run
                            .results
                            .push(row.map_err(sqlite("read results", path))?);
                    }
                }
            }
            tx.commit().map_err(sqlite("end the read", path))?;
            Ok(runs)
        })
    }

    /// Closes the file (the WAL is checkpointed into it). Idempotent; later calls fail with
    /// `Closed`.
    pub fn close(&self) -> Result<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        match conn {
            None => Ok(()),
            Some(conn) => conn
                .close()
                .map_err(|(_, e)| sqlite("close", &self.path)(e)),
        }
    }
}

fn check_version(path: &Path, version: i64) -> Result<()> {
    if version > SCHEMA_VERSION {
        return Err(HistoryError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn non_empty(name: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(ArgError::invalid_type(name.to_string(), "a non-empty string").into());
    }
    Ok(())
}

fn count(name: &str, v: i64) -> Result<()> {
    if v < 0 {
        return Err(
            ArgError::out_of_range(name.to_string(), "a whole number >= 0", v.to_string()).into(),
        );
    }
    Ok(())
}

/// The rules a run must meet before anything is written.
fn validate(run: &RunRecord) -> Result<()> {
    non_empty("run.timestamp", &run.timestamp)?;
    count("run.planFormatVersion", run.plan_format_version)?;
    if run.results.is_empty() {
        return Err(ArgError::out_of_range("run.results", "at least one result", "none").into());
    }
    for (i, r) in run.results.iter().enumerate() {
        non_empty(&format!("run.results[{i}].model"), &r.model)?;
        non_empty(&format!("run.results[{i}].fixture"), &r.fixture)?;
        count(
            &format!("run.results[{i}].errorCountBefore"),
            r.errors_before,
        )?;
        count(&format!("run.results[{i}].errorCountAfter"), r.errors_after)?;
        count(&format!("run.results[{i}].attempts"), r.attempts)?;
        if let Some(t) = r.tokens {
            count(&format!("run.results[{i}].tokens"), t)?;
        }
        if !r.duration_ms.is_finite() || r.duration_ms < 0.0 {
            return Err(ArgError::out_of_range(
                format!("run.results[{i}].duration"),
                "a finite number of milliseconds >= 0",
                r.duration_ms.to_string(),
            )
            .into());
        }
    }
    Ok(())
}
