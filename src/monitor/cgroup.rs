//! The memory limit of the control group the process runs in (cgroup v2 `memory.max`, v1
//! `memory.limit_in_bytes`), read straight from the kernel's files: sysinfo only reports the
//! root group's limit, while a process in a nested group (systemd slice, container runtime)
//! is bounded by every group above it, so the effective limit is the lowest along the path.

use std::fs;
use std::path::{Path, PathBuf};

/// v1 writes "no limit" as a huge page-aligned number (2^63 rounded down to a page); anything at
/// or above 2^62 bytes is treated as unlimited.
const UNLIMITED_FROM: u64 = 1 << 62;

/// Parses one limit file's content: `max` (v2) or a number of bytes. `None` when unlimited or
/// unreadable.
pub fn parse_limit(content: &str) -> Option<u64> {
    let text = content.trim();
    if text == "max" {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (value > 0 && value < UNLIMITED_FROM).then_some(value)
}

/// Where one hierarchy keeps its limit files.
#[derive(Debug, PartialEq, Eq)]
pub struct GroupPath {
    /// The mount point of the hierarchy (`/sys/fs/cgroup` for v2, `/sys/fs/cgroup/memory` for v1).
    pub mount: PathBuf,
    /// The group's path inside the hierarchy, from `/proc/self/cgroup` (starts with `/`).
    pub group: String,
    /// `memory.max` (v2) or `memory.limit_in_bytes` (v1).
    pub file: &'static str,
}

/// Reads `/proc/self/cgroup` content into the hierarchies that can carry a memory limit, given
/// the cgroup file system root (`/sys/fs/cgroup`).
pub fn memory_groups(proc_self_cgroup: &str, root: &Path) -> Vec<GroupPath> {
    let mut out = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(group)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            // v2: unified at the root, or beside v1 under `unified` in hybrid mode.
            let mount = if root.join("cgroup.controllers").exists() {
                root.to_path_buf()
            } else {
                root.join("unified")
            };
            out.push(GroupPath {
                mount,
                group: group.to_owned(),
                file: "memory.max",
            });
        } else if controllers.split(',').any(|c| c == "memory") {
            out.push(GroupPath {
                mount: root.join("memory"),
                group: group.to_owned(),
                file: "memory.limit_in_bytes",
            });
        }
    }
    out
}

/// The lowest limit from the group up to the mount point. Inside a container the group path of
/// the host may not exist under the mount (the container sees its own group as the root), so
/// missing folders are skipped and the mount point itself is always read.
pub fn lowest_limit(path: &GroupPath) -> Option<u64> {
    let mut lowest: Option<u64> = None;
    let mut consider = |dir: &Path| {
        if let Some(limit) = fs::read_to_string(dir.join(path.file))
            .ok()
            .and_then(|c| parse_limit(&c))
        {
            lowest = Some(lowest.map_or(limit, |l: u64| l.min(limit)));
        }
    };
    let mut group = PathBuf::from(path.group.trim_start_matches('/'));
    loop {
        if group.as_os_str().is_empty() {
            break;
        }
        consider(&path.mount.join(&group));
        if !group.pop() {
            break;
        }
    }
    consider(&path.mount);
    lowest
}

/// The memory limit of this process's control groups, if any (Linux only; `None` elsewhere).
pub fn process_memory_limit() -> Option<u64> {
    let content = fs::read_to_string("/proc/self/cgroup").ok()?;
    memory_groups(&content, Path::new("/sys/fs/cgroup"))
        .iter()
        .filter_map(lowest_limit)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits_and_unlimited_markers() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_limit("9223372036854771712"), None);
        assert_eq!(parse_limit("garbage"), None);
        assert_eq!(parse_limit("0"), None);
    }

    #[test]
    fn finds_v1_and_v2_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        let v1 = "4:memory:/a/b\n3:cpu,cpuacct:/a\n0::/svc.slice/x.scope\n";
        let groups = memory_groups(v1, root.path());
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].file, "memory.limit_in_bytes");
        assert_eq!(groups[0].mount, root.path().join("memory"));
        assert_eq!(groups[1].file, "memory.max");
        assert_eq!(groups[1].mount, root.path().join("unified"));
        std::fs::write(root.path().join("cgroup.controllers"), "memory").unwrap();
        let groups = memory_groups("0::/svc.slice\n", root.path());
        assert_eq!(groups[0].mount, root.path().to_path_buf());
    }

    #[test]
    fn takes_the_lowest_limit_along_the_path() {
        let root = tempfile::tempdir().unwrap();
        let mount = root.path().to_path_buf();
        std::fs::create_dir_all(mount.join("outer/inner")).unwrap();
        std::fs::write(mount.join("memory.max"), "max").unwrap();
        std::fs::write(mount.join("outer/memory.max"), "1073741824").unwrap();
        std::fs::write(mount.join("outer/inner/memory.max"), "max").unwrap();
        let path = GroupPath {
            mount: mount.clone(),
            group: "/outer/inner".into(),
            file: "memory.max",
        };
        assert_eq!(lowest_limit(&path), Some(1 << 30));
        // The host's path is absent inside a container: the mount point still counts.
        std::fs::write(mount.join("memory.max"), "268435456").unwrap();
        let path = GroupPath {
            mount,
            group: "/not/here".into(),
            file: "memory.max",
        };
        assert_eq!(lowest_limit(&path), Some(1 << 28));
    }
}
