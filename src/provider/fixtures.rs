//! Fixture sets on disk: listing them, hashing their content (for cache keys), and copying them
//! into working folders that jobs may edit.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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

/// BLAKE3 over every file's relative path and content: equal hashes, equal fixtures.
pub fn content_hash(dir: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    for rel in files(dir)? {
        let path = dir.join(&rel);
        let rel = rel.to_string_lossy();
        hasher.update(&(rel.len() as u64).to_le_bytes());
        hasher.update(rel.as_bytes());
        let meta = fs::symlink_metadata(&path)?;
        let bytes = if meta.file_type().is_symlink() {
            fs::read_link(&path)?
                .to_string_lossy()
                .into_owned()
                .into_bytes()
        } else {
            fs::read(&path)?
        };
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
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
        assert_ne!(content_hash(&a).unwrap(), content_hash(&b).unwrap());
        let copy = root.path().join("copy");
        copy_tree(&a, &copy).unwrap();
        assert_eq!(content_hash(&a).unwrap(), content_hash(&copy).unwrap());
        fs::write(copy.join("src/new.ts"), "").unwrap();
        assert_ne!(content_hash(&a).unwrap(), content_hash(&copy).unwrap());
    }
}
