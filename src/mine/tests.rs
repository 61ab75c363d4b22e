use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::{Repository, Signature, Time};

use super::*;

/// A folder removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "promethean-mine-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Commits the given files (path, Some(text) to write, None to delete) at time `t`.
fn commit(repo: &Repository, t: i64, message: &str, files: &[(&str, Option<&str>)]) -> String {
    let root = repo.workdir().unwrap().to_path_buf();
    let mut index = repo.index().unwrap();
    for (path, text) in files {
        let abs = root.join(path);
        match text {
            Some(text) => {
                fs::create_dir_all(abs.parent().unwrap()).unwrap();
                fs::write(&abs, text).unwrap();
                index.add_path(Path::new(path)).unwrap();
            }
            None => {
                fs::remove_file(&abs).unwrap();
                index.remove_path(Path::new(path)).unwrap();
            }
        }
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::new("t", "t@example.com", &Time::new(t, 0)).unwrap();
    let parents: Vec<_> = repo
        .head()
        .ok()
        .map(|h| h.peel_to_commit().unwrap())
        .into_iter()
        .collect();
    let parents: Vec<_> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
        .to_string()
}

const CONFIG: &str = "{\"compilerOptions\": {\"strict\": true}}\n";

#[test]
fn walk_finds_the_projects_a_commit_touched_with_their_hunks() {
    let tmp = TempDir::new("walk");
    let repo = Repository::init(&tmp.0).unwrap();
    commit(
        &repo,
        1000,
        "start",
        &[
            ("app/tsconfig.json", Some(CONFIG)),
            ("app/src/a.ts", Some("const a: number = 'x'\nexport {}\n")),
            ("README.md", Some("hello\n")),
        ],
    );
    let fix = commit(
        &repo,
        2000,
        "fix a\n\nbody",
        &[
            ("app/src/a.ts", Some("const a: string = 'x'\nexport {}\n")),
            ("README.md", Some("hello again\n")),
        ],
    );
    let walk = walk(
        &tmp.0,
        &WalkOptions {
            since: None,
            max_commits: 10,
        },
    )
    .unwrap();
    assert_eq!(walk.visited, 2);
    assert_eq!(
        walk.candidates.len(),
        1,
        "the root commit has no parent to diff"
    );
    let c = &walk.candidates[0];
    assert_eq!(c.commit, fix);
    assert_eq!(c.summary, "fix a");
    assert_eq!(c.time, 2000);
    assert_eq!(
        c.projects,
        vec![ProjectChange {
            dir: "app".into(),
            files: vec![FileChange {
                path: "src/a.ts".into(),
                hunks: vec![Hunk {
                    old_start: 1,
                    old_lines: 1,
                    old_text: "const a: number = 'x'\n".into(),
                    new_text: "const a: string = 'x'\n".into(),
                }],
            }],
            unsupported: None,
        }]
    );
}

#[test]
fn walk_says_when_a_plan_cannot_express_the_change_and_honours_since_and_the_bound() {
    let tmp = TempDir::new("unsupported");
    let repo = Repository::init(&tmp.0).unwrap();
    commit(
        &repo,
        1000,
        "start",
        &[("tsconfig.json", Some(CONFIG)), ("a.ts", Some("x\n"))],
    );
    commit(&repo, 2000, "add b", &[("b.ts", Some("y\n"))]);
    commit(&repo, 3000, "config", &[("tsconfig.json", Some("{}\n"))]);
    commit(&repo, 4000, "insert", &[("a.ts", Some("w\nx\n"))]);
    let all = walk(
        &tmp.0,
        &WalkOptions {
            since: None,
            max_commits: 100,
        },
    )
    .unwrap();
    let summaries: Vec<_> = all.candidates.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["insert", "config", "add b"]);
    let insert = &all.candidates[0].projects[0];
    assert_eq!(insert.dir, "");
    assert_eq!(
        insert.files[0].hunks,
        vec![Hunk {
            old_start: 0,
            old_lines: 0,
            old_text: String::new(),
            new_text: "w\n".into()
        }]
    );
    assert!(all.candidates[1].projects[0]
        .unsupported
        .as_deref()
        .unwrap()
        .contains("tsconfig.json"));
    assert!(all.candidates[2].projects[0]
        .unsupported
        .as_deref()
        .unwrap()
        .contains("adds b.ts"));

    let recent = walk(
        &tmp.0,
        &WalkOptions {
            since: Some(3000),
            max_commits: 100,
        },
    )
    .unwrap();
    assert_eq!(recent.visited, 2);
    let bounded = walk(
        &tmp.0,
        &WalkOptions {
            since: None,
            max_commits: 1,
        },
    )
    .unwrap();
    assert_eq!(bounded.visited, 1);
    assert!(matches!(
        walk(
            &tmp.0,
            &WalkOptions {
                since: None,
                max_commits: 0
            }
        ),
        Err(MineError::Arg(_))
    ));
}

#[test]
fn export_writes_the_project_at_a_commit_without_dependencies_and_within_bounds() {
    let tmp = TempDir::new("export");
    let repo_dir = tmp.0.join("repo");
    let repo = Repository::init(&repo_dir).unwrap();
    let first = commit(
        &repo,
        1000,
        "start",
        &[
            ("p/tsconfig.json", Some(CONFIG)),
            ("p/src/a.ts", Some("export const a = 1\n")),
            ("p/node_modules/x/index.d.ts", Some("export {}\n")),
            ("other.ts", Some("1\n")),
        ],
    );
    commit(
        &repo,
        2000,
        "edit",
        &[("p/src/a.ts", Some("export const a = 2\n"))],
    );
    let out = tmp.0.join("out");
    let done = export_project(&repo_dir, &first, "p", &out, ExportLimits::default()).unwrap();
    assert_eq!(
        done,
        Exported {
            files: 2,
            bytes: (CONFIG.len() + 19) as u64
        }
    );
    assert_eq!(
        fs::read_to_string(out.join("src/a.ts")).unwrap(),
        "export const a = 1\n"
    );
    assert!(!out.join("node_modules").exists());
    assert!(matches!(
        export_project(&repo_dir, &first, "p", &out, ExportLimits::default()),
        Err(MineError::OutputExists { .. })
    ));

    let small = tmp.0.join("small");
    let limits = ExportLimits {
        max_bytes: 10,
        max_files: 100,
    };
    assert!(matches!(
        export_project(&repo_dir, &first, "p", &small, limits),
        Err(MineError::TooLarge { what: "bytes", .. })
    ));
    assert!(!small.exists(), "a refused export leaves nothing behind");
    assert!(matches!(
        export_project(&repo_dir, &first, "nope", &small, ExportLimits::default()),
        Err(MineError::UnknownFolder { .. })
    ));
    assert!(matches!(
        export_project(&repo_dir, "0123", "p", &small, ExportLimits::default()),
        Err(MineError::UnknownCommit { .. })
    ));
    assert!(matches!(
        walk(
            &tmp.0.join("missing"),
            &WalkOptions {
                since: None,
                max_commits: 1
            }
        ),
        Err(MineError::NotARepository { .. })
    ));
}
