use std::sync::Arc;

use super::*;

fn result(model: &str, fixture: &str, success: bool, duration_ms: f64) -> ResultRecord {
    ResultRecord {
        model: model.into(),
        endpoint: String::new(),
        fixture: fixture.into(),
        fixture_hash: Some(format!("hash-{fixture}")),
        family: "missingImport".into(),
        code: "TS2304".into(),
        success,
        errors_before: 1,
        errors_after: if success { 0 } else { 1 },
        duration_ms,
        attempts: 1,
        tokens: None,
    }
}

fn run(stamp: &str, results: Vec<ResultRecord>) -> RunRecord {
    RunRecord {
        timestamp: stamp.into(),
        package_version: "0.1.0".into(),
        plan_format_version: 2,
        label: "small".into(),
        results,
    }
}

#[test]
fn appends_and_reads_runs_per_model_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().join("h.sqlite")).unwrap();
    for i in 0..5 {
        let id = store
            .append(&run(
                &format!("t{i}"),
                vec![
                    result("gold", "a", true, 10.0 + i as f64),
                    result("none", "a", false, 1.0),
                ],
            ))
            .unwrap();
        assert_eq!(id, i + 1);
    }
    let series = store.series().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!((series[0].model.as_str(), series[0].runs), ("gold", 5));
    let last = store.runs("gold", "", 3).unwrap();
    assert_eq!(last.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert!(last.iter().all(|r| r.run.results.len() == 1));
    assert_eq!(last[2].run.results[0], result("gold", "a", true, 14.0));
    assert!(store.runs("gold", "http://other", 3).unwrap().is_empty());
    store.close().unwrap();
    store.close().unwrap();
    assert!(matches!(store.series(), Err(HistoryError::Closed)));
    // Reopened, the runs are all there.
    let again = HistoryStore::open(dir.path().join("h.sqlite")).unwrap();
    assert_eq!(again.runs("none", "", 100).unwrap().len(), 5);
}

#[test]
fn concurrent_writers_on_one_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("h.sqlite"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = Arc::clone(&path);
            std::thread::spawn(move || {
                // Each thread its own connection, as separate processes would have.
                let store = HistoryStore::open(path.as_path()).unwrap();
                for i in 0..25 {
                    let model = format!("m{t}");
                    let results = (0..10)
                        .map(|f| result(&model, &format!("f{f}"), (i + f) % 2 == 0, 1.0))
                        .collect();
                    store.append(&run(&format!("{t}-{i}"), results)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = HistoryStore::open(path.as_path()).unwrap();
    for t in 0..4 {
        let runs = store.runs(&format!("m{t}"), "", 1000).unwrap();
        assert_eq!(runs.len(), 25);
        assert!(runs.iter().all(|r| r.run.results.len() == 10));
    }
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let junk = b"this is a text file, not a database; it must survive".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let err = HistoryStore::open(&path).err().unwrap();
    assert!(matches!(err, HistoryError::NotAHistory { .. }), "{err}");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let err = HistoryStore::open(&path).err().unwrap();
    assert!(err.to_string().contains("another application"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_newer_schema_is_refused_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let store = HistoryStore::open(&path).unwrap();
    store
        .append(&run("t", vec![result("gold", "a", true, 1.0)]))
        .unwrap();
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    drop(conn);
    let err = HistoryStore::open(&path).err().unwrap();
    assert!(
        matches!(err, HistoryError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn bad_runs_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().join("h.sqlite")).unwrap();
    let mut bad = run(
        "t",
        vec![
            result("gold", "a", true, 1.0),
            result("gold", "b", true, f64::NAN),
        ],
    );
    let err = store.append(&bad).unwrap_err();
    assert!(err.to_string().contains("run.results[1].duration"), "{err}");
    bad.results.clear();
    assert!(matches!(
        store.append(&bad),
        Err(HistoryError::Arg(crate::error::ArgError::OutOfRange { .. }))
    ));
    let mut empty_model = run("t", vec![result("", "a", true, 1.0)]);
    assert!(matches!(
        store.append(&empty_model),
        Err(HistoryError::Arg(
            crate::error::ArgError::InvalidType { .. }
        ))
    ));
    empty_model.results[0].model = "gold".into();
    empty_model.results[0].errors_before = -1;
    assert!(matches!(
        store.append(&empty_model),
        Err(HistoryError::Arg(crate::error::ArgError::OutOfRange { .. }))
    ));
    assert!(store.series().unwrap().is_empty());
    assert!(matches!(
        store.runs("gold", "", 0),
        Err(HistoryError::Arg(crate::error::ArgError::OutOfRange { .. }))
    ));
    assert!(matches!(
        HistoryStore::open(""),
        Err(HistoryError::Arg(
            crate::error::ArgError::InvalidType { .. }
        ))
    ));
    assert!(matches!(
        HistoryStore::open(dir.path()),
        Err(HistoryError::NotAHistory { .. })
    ));
}
