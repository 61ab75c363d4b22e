//! Mining fixtures from git history: the core's walk and export as promises. Both read a
//! repository and write files, so they run on tokio's blocking pool.

use std::path::PathBuf;

use napi::bindgen_prelude::{Env, PromiseRaw, ToNapiValue};
use napi_derive::napi;

use super::blocking::run_blocking;
use super::error::Result;
use crate::error::ArgError;
use crate::mine::{
    Candidate, ExportLimits, Exported, FileChange, Hunk, ProjectChange, Walk, WalkOptions,
};

#[napi(object)]
pub struct NativeMineWalkOptions {
    /// Milliseconds since the Unix epoch; older commits end the walk.
    pub since: Option<f64>,
    /// At most this many commits are visited (default 1000).
    pub max_commits: Option<f64>,
}

#[napi(object)]
pub struct NativeMineHunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub old_text: String,
    pub new_text: String,
}

#[napi(object)]
pub struct NativeMineFile {
    pub path: String,
    pub hunks: Vec<NativeMineHunk>,
}

#[napi(object)]
pub struct NativeMineProject {
    pub dir: String,
    pub files: Vec<NativeMineFile>,
    pub unsupported: Option<String>,
}

#[napi(object)]
pub struct NativeMineCandidate {
    pub commit: String,
    pub parent: String,
    pub summary: String,
    /// Milliseconds since the Unix epoch.
    pub time: f64,
    pub projects: Vec<NativeMineProject>,
}

#[napi(object)]
pub struct NativeMineWalk {
    pub candidates: Vec<NativeMineCandidate>,
    pub visited: u32,
    pub merges: u32,
}

#[napi(object)]
pub struct NativeMineExport {
    pub files: f64,
    pub bytes: f64,
}

const DEFAULT_MAX_COMMITS: usize = 1000;

/// The one check of the walk's options, where JS values become core values.
fn to_walk_options(o: Option<NativeMineWalkOptions>) -> std::result::Result<WalkOptions, ArgError> {
    let (since, max_commits) = o.map_or((None, None), |o| (o.since, o.max_commits));
    let since = match since {
        Some(ms) if !ms.is_finite() => {
            return Err(ArgError::out_of_range("options.since", "a finite time", ms))
        }
        Some(ms) => Some((ms / 1000.0).floor() as i64),
        None => None,
    };
    let max_commits = match max_commits {
        Some(n) if n.fract() != 0.0 || !(1.0..=1e9).contains(&n) => {
            return Err(ArgError::out_of_range(
                "options.maxCommits",
                "an integer from 1 to 1e9",
                n,
            ))
        }
        Some(n) => n as usize,
        None => DEFAULT_MAX_COMMITS,
    };
    Ok(WalkOptions { since, max_commits })
}

impl From<Hunk> for NativeMineHunk {
    fn from(h: Hunk) -> Self {
        Self {
            old_start: h.old_start,
            old_lines: h.old_lines,
            old_text: h.old_text,
            new_text: h.new_text,
        }
    }
}

impl From<FileChange> for NativeMineFile {
    fn from(f: FileChange) -> Self {
        Self {
            path: f.path,
            hunks: f.hunks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ProjectChange> for NativeMineProject {
    fn from(p: ProjectChange) -> Self {
        Self {
            dir: p.dir,
            files: p.files.into_iter().map(Into::into).collect(),
            unsupported: p.unsupported,
        }
    }
}

impl From<Candidate> for NativeMineCandidate {
    fn from(c: Candidate) -> Self {
        Self {
            commit: c.commit,
            parent: c.parent,
            summary: c.summary,
            time: c.time as f64 * 1000.0,
            projects: c.projects.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Walk> for NativeMineWalk {
    fn from(w: Walk) -> Self {
        Self {
            candidates: w.candidates.into_iter().map(Into::into).collect(),
            visited: w.visited as u32,
            merges: w.merges as u32,
        }
    }
}

impl From<Exported> for NativeMineExport {
    fn from(e: Exported) -> Self {
        Self {
            files: e.files as f64,
            bytes: e.bytes as f64,
        }
    }
}

/// Runs `work` on tokio's blocking pool and settles the promise on the JS thread, where a core
/// error becomes a JS error with its code. Nothing is shared with the JS thread, so nothing
/// can deadlock.
fn spawn<'env, T, V>(
    env: &'env Env,
    work: impl FnOnce() -> crate::mine::Result<T> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    run_blocking(env, "mining", work, convert)
}

/// The non-merge commits of `repo` (newest first) with the TypeScript projects each touched.
#[napi(catch_unwind, ts_return_type = "Promise<NativeMineWalk>")]
#[cfg_attr(test, allow(dead_code))]
pub fn mine_walk<'env>(
    env: &'env Env,
    repo: String,
    options: Option<NativeMineWalkOptions>,
) -> Result<PromiseRaw<'env, NativeMineWalk>> {
    let options = to_walk_options(options)?;
    let repo = PathBuf::from(repo);
    spawn(
        env,
        move || crate::mine::walk(&repo, &options),
        NativeMineWalk::from,
    )
}

/// Writes folder `dir` of `commit` into `out` (absent or empty), within the core's default
/// bounds; `ERR_FIXTURE_TOO_LARGE` when the project exceeds them.
#[napi(catch_unwind, ts_return_type = "Promise<NativeMineExport>")]
#[cfg_attr(test, allow(dead_code))]
pub fn mine_export<'env>(
    env: &'env Env,
    repo: String,
    commit: String,
    dir: String,
    out: String,
) -> Result<PromiseRaw<'env, NativeMineExport>> {
    let repo = PathBuf::from(repo);
    let out = PathBuf::from(out);
    spawn(
        env,
        move || crate::mine::export_project(&repo, &commit, &dir, &out, ExportLimits::default()),
        NativeMineExport::from,
    )
}
