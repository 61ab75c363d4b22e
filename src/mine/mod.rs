//! Fixtures mined from a repository's history: the core reads commits with git2 and knows
//! nothing of TypeScript's compiler or of Node.
//!
//! [`walk`] lists the non-merge commits (newest first, since a date, up to a bound) with, for
//! each TypeScript project (a folder with a `tsconfig.json` in the parent's tree) the commit
//! touched, the zero-context hunks of its edited source files. [`export_project`] writes one
//! project's files at one commit into a new folder, bounded in size, skipping `node_modules`,
//! `.git`, symlinks and submodules. The JS layer type-checks the exports and keeps the commits
//! that fixed an error; nothing here runs anything from the repository.

mod error;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use git2::{Delta, DiffOptions, ObjectType, Oid, Repository, Sort, Tree};

pub use error::{MineError, Result};

use crate::error::ArgError;
use error::io;

/// Which commits [`walk`] looks at.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Commits older than this (Unix seconds, the committer's time) end the walk.
    pub since: Option<i64>,
    /// At most this many commits are visited, merges included.
    pub max_commits: usize,
}

/// One replaced range of an old file: lines `old_start ..= old_start + old_lines - 1` (1-based)
/// become `new_text`. With `old_lines == 0` the text is inserted after line `old_start` (0: at
/// the top), as git numbers a pure insertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    /// The replaced lines exactly, newlines included.
    pub old_text: String,
    pub new_text: String,
}

/// The hunks of one edited source file; `path` is relative to its project folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub hunks: Vec<Hunk>,
}

/// What a commit changed in one TypeScript project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectChange {
    /// The project folder relative to the repository root, `/`-separated (`""` for the root).
    pub dir: String,
    /// Edited `.ts`/`.tsx`/`.mts`/`.cts` files (not `.d.ts`), by path.
    pub files: Vec<FileChange>,
    /// Why a plan of text edits cannot reproduce the change (a file added, deleted or renamed,
    /// the project's configuration edited, binary or non-UTF-8 text), when it cannot.
    pub unsupported: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub commit: String,
    pub parent: String,
    /// The first line of the message.
    pub summary: String,
    /// Committer time, Unix seconds.
    pub time: i64,
    pub projects: Vec<ProjectChange>,
}

#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// Non-merge commits that touched at least one TypeScript project, newest first.
    pub candidates: Vec<Candidate>,
    /// Commits visited (merges and root commits included).
    pub visited: usize,
    /// Merge commits passed over: their change has no single parent to diff against.
    pub merges: usize,
}

/// Bounds of [`export_project`].
#[derive(Debug, Clone, Copy)]
pub struct ExportLimits {
    pub max_bytes: u64,
    pub max_files: u64,
}

impl Default for ExportLimits {
    /// A fixture is a small project: 4 MiB and 2000 files are generous for one and keep a
    /// mining run's scratch space bounded.
    fn default() -> Self {
        Self {
            max_bytes: 4 << 20,
            max_files: 2000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub files: u64,
    pub bytes: u64,
}

/// Folders never exported nor looked into: dependencies and git's own.
const SKIPPED_NAMES: [&str; 2] = ["node_modules", ".git"];

fn open(path: &Path) -> Result<Repository> {
    Repository::open(path).map_err(|e| MineError::NotARepository {
        path: path.to_path_buf(),
        reason: e.message().to_string(),
    })
}

/// Walks the history from `HEAD` (see the module docs).
pub fn walk(repo_path: &Path, options: &WalkOptions) -> Result<Walk> {
    if options.max_commits == 0 {
        return Err(ArgError::out_of_range("maxCommits", "a positive integer", "0").into());
    }
    let repo = open(repo_path)?;
    // A repository without a commit yet has no history to mine.
    if repo
        .head()
        .is_err_and(|e| e.code() == git2::ErrorCode::UnbornBranch)
    {
        return Ok(Walk::default());
    }
    let mut revwalk = repo.revwalk()?;
    revwalk.push_head()?;
    revwalk.set_sorting(Sort::TIME)?;
    let mut out = Walk::default();
    for oid in revwalk {
        if out.visited >= options.max_commits {
            break;
        }
        let commit = repo.find_commit(oid?)?;
        if options
            .since
            .is_some_and(|since| commit.time().seconds() < since)
        {
            break;
        }
        out.visited += 1;
        if commit.parent_count() > 1 {
            out.merges += 1;
            continue;
        }
        let Ok(parent) = commit.parent(0) else {
            continue;
        };
        let projects = changed_projects(&repo, &parent.tree()?, &commit.tree()?)?;
        if projects.is_empty() {
            continue;
        }
        out.candidates.push(Candidate {
            commit: commit.id().to_string(),
            parent: parent.id().to_string(),
            summary: commit.summary().ok().flatten().unwrap_or("").to_string(),
            time: commit.time().seconds(),
            projects,
        });
    }
    Ok(out)
}

fn is_source(path: &str) -> bool {
    !path.ends_with(".d.ts")
        && [".ts", ".tsx", ".mts", ".cts"]
            .iter()
            .any(|ext| path.ends_with(ext))
}

/// Files whose change alters how a project compiles, beyond its sources' text.
fn is_config(name: &str) -> bool {
    name == "package.json"
        || (name.starts_with("tsconfig") && name.ends_with(".json"))
        || name.ends_with(".d.ts")
        || is_source(name)
}

/// The nearest folder at or above `file`'s folder with a `tsconfig.json` in `tree`.
fn project_of(
    tree: &Tree,
    file: &str,
    memo: &mut HashMap<String, Option<String>>,
) -> Option<String> {
    let mut dir = match file.rfind('/') {
        Some(i) => &file[..i],
        None => "",
    };
    loop {
        if dir.split('/').any(|c| SKIPPED_NAMES.contains(&c)) {
            return None;
        }
        let found = memo
            .entry(dir.to_string())
            .or_insert_with(|| {
                let config = if dir.is_empty() {
                    "tsconfig.json".to_string()
                } else {
                    format!("{dir}/tsconfig.json")
                };
                tree.get_path(Path::new(&config))
                    .ok()
                    .filter(|e| e.kind() == Some(ObjectType::Blob))
                    .map(|_| dir.to_string())
            })
            .clone();
        if found.is_some() {
            return found;
        }
        if dir.is_empty() {
            return None;
        }
        dir = match dir.rfind('/') {
            Some(i) => &dir[..i],
            None => "",
        };
    }
}

fn relative<'a>(dir: &str, path: &'a str) -> &'a str {
    if dir.is_empty() {
        path
    } else {
        &path[dir.len() + 1..]
    }
}

fn changed_projects(repo: &Repository, old: &Tree, new: &Tree) -> Result<Vec<ProjectChange>> {
    let mut opts = DiffOptions::new();
    opts.context_lines(0);
    let diff = repo.diff_tree_to_tree(Some(old), Some(new), Some(&mut opts))?;
    let mut memo = HashMap::new();
    let mut projects: BTreeMap<String, ProjectChange> = BTreeMap::new();
    for (index, delta) in diff.deltas().enumerate() {
        let old_path = delta.old_file().path().and_then(Path::to_str);
        let new_path = delta.new_file().path().and_then(Path::to_str);
        let Some(path) = old_path.or(new_path) else {
            continue;
        };
        // A file added where the parent has no project yet belongs to no fixture.
        let Some(dir) = project_of(old, path, &mut memo) else {
            continue;
        };
        let project = projects
            .entry(dir.clone())
            .or_insert_with(|| ProjectChange {
                dir: dir.clone(),
                files: Vec::new(),
                unsupported: None,
            });
        let rel = relative(&dir, path).to_string();
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        let mut refuse = |reason: String| {
            project.unsupported.get_or_insert(reason);
        };
        let renamed = old_path != new_path;
        if delta.status() != Delta::Modified || renamed {
            if is_config(name) || is_config(new_path.map_or("", |p| relative(&dir, p))) {
                let what = match delta.status() {
                    Delta::Added => "adds",
                    Delta::Deleted => "deletes",
                    Delta::Renamed => "renames",
                    _ => "replaces",
                };
                refuse(format!(
                    "the commit {what} {rel}, which edits of existing files cannot express"
                ));
            }
            continue;
        }
        if !is_source(name) {
            if is_config(name) {
                refuse(format!(
                    "the commit edits {rel}, which the plan's operations cannot edit"
                ));
            }
            continue;
        }
        let Some(patch) = git2::Patch::from_diff(&diff, index)? else {
            refuse(format!("{rel} is a binary file"));
            continue;
        };
        let mut hunks = Vec::new();
        let mut bad_text = false;
        for h in 0..patch.num_hunks() {
            let (hunk, lines) = patch.hunk(h)?;
            let mut old_text = Vec::new();
            let mut new_text = Vec::new();
            for l in 0..lines {
                let line = patch.line_in_hunk(h, l)?;
                match line.origin() {
                    '-' => old_text.extend_from_slice(line.content()),
                    '+' => new_text.extend_from_slice(line.content()),
                    _ => {}
                }
            }
            match (String::from_utf8(old_text), String::from_utf8(new_text)) {
                (Ok(old_text), Ok(new_text)) => hunks.push(Hunk {
                    old_start: hunk.old_start(),
                    old_lines: hunk.old_lines(),
                    old_text,
                    new_text,
                }),
                _ => bad_text = true,
            }
        }
        if bad_text {
            refuse(format!("{rel} is not UTF-8 text"));
        } else if !hunks.is_empty() {
            project.files.push(FileChange { path: rel, hunks });
        }
    }
    Ok(projects
        .into_values()
        .filter(|p| !p.files.is_empty() || p.unsupported.is_some())
        .collect())
}

/// Writes the files of folder `dir` (repository-relative, `""` for the root) of `commit` into
/// `out`, which must not exist or be empty. Checks the bounds before writing anything, so a
/// project that is too large leaves no folder behind.
pub fn export_project(
    repo_path: &Path,
    commit: &str,
    dir: &str,
    out: &Path,
    limits: ExportLimits,
) -> Result<Exported> {
    let repo = open(repo_path)?;
    let unknown = || MineError::UnknownCommit {
        id: commit.to_string(),
    };
    let oid = Oid::from_str(commit).map_err(|_| unknown())?;
    let commit_obj = repo.find_commit(oid).map_err(|_| unknown())?;
    let root = commit_obj.tree()?;
    let tree = if dir.is_empty() {
        root
    } else {
        root.get_path(Path::new(dir))
            .ok()
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .and_then(|e| e.to_object(&repo).ok())
            .and_then(|o| o.into_tree().ok())
            .ok_or_else(|| MineError::UnknownFolder {
                dir: dir.to_string(),
                commit: commit.to_string(),
            })?
    };
    let mut files = Vec::new();
    let mut total = Exported { files: 0, bytes: 0 };
    collect(
        &repo,
        &tree,
        PathBuf::new(),
        &mut files,
        &mut total,
        limits,
        dir,
    )?;
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(io("reading", out))?
            .next()
            .is_none();
        if !empty {
            return Err(MineError::OutputExists {
                path: out.to_path_buf(),
            });
        }
    }
    for (rel, oid) in files {
        let target = out.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        let blob = repo.find_blob(oid)?;
        std::fs::write(&target, blob.content()).map_err(io("writing", &target))?;
    }
    std::fs::create_dir_all(out).map_err(io("creating", out))?;
    Ok(total)
}

fn collect(
    repo: &Repository,
    tree: &Tree,
    at: PathBuf,
    files: &mut Vec<(PathBuf, Oid)>,
    total: &mut Exported,
    limits: ExportLimits,
    dir: &str,
) -> Result<()> {
    for entry in tree.iter() {
        // Names git would refuse to check out are never written either.
        let Ok(name) = entry.name() else { continue };
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains(['/', '\\', '\0'])
            || SKIPPED_NAMES.contains(&name)
        {
            continue;
        }
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let sub = entry.to_object(repo)?.peel_to_tree()?;
                collect(repo, &sub, at.join(name), files, total, limits, dir)?;
            }
            // Symlinks (mode 120000) could point anywhere; submodules are other repositories.
            Some(ObjectType::Blob) if entry.filemode() != 0o120000 => {
                let size = repo.find_blob(entry.id())?.size() as u64;
                total.files += 1;
                total.bytes += size;
                if total.files > limits.max_files {
                    return Err(MineError::TooLarge {
                        dir: dir.to_string(),
                        what: "files",
                        limit: limits.max_files,
                    });
                }
                if total.bytes > limits.max_bytes {
                    return Err(MineError::TooLarge {
                        dir: dir.to_string(),
                        what: "bytes",
                        limit: limits.max_bytes,
                    });
                }
                files.push((at.join(name), entry.id()));
            }
            _ => {}
        }
    }
    Ok(())
}
