//! Fixture sets on disk: listing them, hashing their content (for cache keys), and copying them
//! into working folders that jobs may edit.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fingerprint::ContentHashes;

/// Marks a folder as a fixture.
pub const FIXTURE_FILE: &str = "fixture.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
}

/// The fixtures directly under `root` (folders holding `fixture.json`), by name.
pub fn list(root: &Path) -> io::Result<Vec<Fixture>> {
    let mut out = Vec::new();
    for item in fs::read_dir(root)? {
        let item = item?;
        let dir = item.path();
        if item.file_type()?.is_dir() && dir.join(FIXTURE_FILE).is_file() {
            if let Some(name) = item.file_name().to_str() {
                out.push(Fixture {
                    name: name.to_owned(),
                    dir,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Files under `dir` that make up a fixture, as sorted relative paths (build output and
/// dependencies are not part of it).
fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for item in fs::read_dir(root.join(rel))? {
            let item = item?;
            let name = item.file_name();
            if name == "node_modules" || name == ".git" {
                continue;
            }
            let rel_path = rel.join(&name);
            let kind = item.file_type()?;
            if kind.is_dir() {
                walk(root, &rel_path, out)?;
            } else {
                out.push(rel_path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

/// BLAKE3 over every file's relative path and content hash: equal hashes, equal fixtures. A
/// file's content is read only when `known` cannot vouch for it by its stat (see
/// [`crate::fingerprint`]), so hashing an unchanged fixture again costs a walk and one `lstat`
/// per file.
pub fn content_hash(dir: &Path, known: &ContentHashes) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    for rel in files(dir)? {
        let path = dir.join(&rel);
        let meta = fs::symlink_metadata(&path)?;
        let rel = rel.to_string_lossy();
        hasher.update(&(rel.len() as u64).to_le_bytes());
        hasher.update(rel.as_bytes());
        hasher.update(&known.hash(&path, &meta)?);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Copies a fixture folder (files, folders, symlinks, permissions) to `dst`, which must not exist.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for item in fs::read_dir(src)? {
        let item = item?;
        let from = item.path();
        let to = dst.join(item.file_name());
        let kind = item.file_type()?;
        if kind.is_dir() {
            if item.file_name() == "node_modules" || item.file_name() == ".git" {
                continue;
            }
            copy_tree(&from, &to)?;
        } else if kind.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else {
            fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(root: &Path, name: &str, body: &str) -> PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join(FIXTURE_FILE), "{}").unwrap();
        fs::write(dir.join("src/a.ts"), body).unwrap();
        dir
    }

    #[test]
    fn lists_only_fixture_folders_by_name() {
        let root = tempfile::tempdir().unwrap();
        fixture(root.path(), "b", "x");
        fixture(root.path(), "a", "x");
        fs::create_dir(root.path().join("not-a-fixture")).unwrap();
        let names: Vec<_> = list(root.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn hash_follows_content_and_copies_hash_alike() {
        let root = tempfile::tempdir().unwrap();
        let a = fixture(root.path(), "a", "export const x = 1\n");
        let b = fixture(root.path(), "b", "export const x = 2\n");
        let known = ContentHashes::new();
        let hash = |d: &Path| content_hash(d, &known).unwrap();
        assert_ne!(hash(&a), hash(&b));
        let copy = root.path().join("copy");
        copy_tree(&a, &copy).unwrap();
        assert_eq!(hash(&a), hash(&copy));
        fs::write(copy.join("src/new.ts"), "").unwrap();
        assert_ne!(hash(&a), hash(&copy));
        // An edit in place keeping the size.
        let before = hash(&a);
        fs::write(a.join("src/a.ts"), "export const x = 3\n").unwrap();
        assert_ne!(hash(&a), before);
    }

    #[test]
    fn hashing_an_unchanged_old_fixture_again_reads_no_file() {
        let root = tempfile::tempdir().unwrap();
        let a = fixture(root.path(), "a", "export const x = 1\n");
        // Written a while ago, as the bundled fixtures are: past the racy window.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for f in [a.join(FIXTURE_FILE), a.join("src/a.ts")] {
            fs::File::options()
                .write(true)
                .open(&f)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let known = ContentHashes::new();
        let first = content_hash(&a, &known).unwrap();
        assert_eq!(known.content_reads(), 2);
        // Setting the mtime made the ctime now: the entries stay racy (read on every hash)
        // until the ctime is older than the racy window. Time passing is the mechanism here.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(content_hash(&a, &known).unwrap(), first);
        // Read once more (unless this machine took longer than the window to hash the first
        // time); now past the window, the entries are trusted.
        assert!(known.content_reads() >= 2);
        let before = known.content_reads();
        for _ in 0..3 {
            assert_eq!(content_hash(&a, &known).unwrap(), first);
        }
        assert_eq!(known.content_reads(), before, "a hit reads no content");
    }
}
