//! The run history: every benchmark run's results, appended to one embedded SQLite file so that
//! trends and regressions can be read across runs.
//!
//! Many processes may append to one file at once: the database is in WAL mode, each run is one
//! `BEGIN IMMEDIATE` transaction (writers queue on SQLite's lock, with a busy timeout, instead of
//! failing), so a reader sees whole runs or nothing. A file that is not a history (not SQLite, a
//! foreign database) or was written by a newer schema is refused with an error naming it; it is
//! never reset or rewritten.

mod error;
mod store;
#[cfg(test)]
mod tests;

pub use error::{HistoryError, Result};
pub use store::{
    HistoryStore, ResultRecord, RunRecord, Series, StoredRun, APPLICATION_ID, SCHEMA_VERSION,
};
