//! Command mode: run an existing monorepo's own BuildFix (`packages/buildfix`) as an argument
//! vector — never through a shell, so a model name is only ever one argument — and read the
//! results file it reports, falling back to its summary lines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::ProviderError;
use crate::error::ArgError;

/// The nearest folder at or above `start` that has `pnpm-workspace.yaml`.
pub fn find_repository_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("pnpm-workspace.yaml").is_file())
        .map(Path::to_path_buf)
}

/// The monorepo's BuildFix command, when `start` is inside a repository that has one.
pub fn monorepo_command(start: &Path) -> Option<(PathBuf, Vec<String>)> {
    let root = find_repository_root(start)?;
    root.join("packages/buildfix")
        .is_dir()
        .then(|| (root, default_argv()))
}

/// The original runner's command line, with `{model}` and `{fixtureFlag}` placeholders.
pub fn default_argv() -> Vec<String> {
    [
        "pnpm",
        "tsx",
        "packages/buildfix/src/benchmark/run-memoized.ts",
        "--models",
        "{model}",
        "{fixtureFlag}",
        "--force-refresh",
    ]
    .map(String::from)
    .to_vec()
}

/// Fills the placeholders: each placeholder argument becomes exactly one argument (or none, for
/// an empty `{fixtureFlag}`), whatever characters the values hold.
pub fn expand_argv(template: &[String], model: &str, massive: bool) -> Vec<String> {
    template
        .iter()
        .filter_map(|arg| match arg.as_str() {
            "{fixtureFlag}" => (!massive).then(|| "--small-fixtures".to_owned()),
            _ => Some(
                arg.replace("{model}", model)
                    .replace("{fixtureType}", if massive { "massive" } else { "small" }),
            ),
        })
        .collect()
}

/// What a command run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// Per-fixture results, when the results file could be read.
    pub results: Vec<Value>,
    pub total_tests: u64,
    pub successful_tests: u64,
    pub results_file: Option<PathBuf>,
}

/// Reads the runner's output: the `Results saved to:` file first, then the summary lines.
pub fn parse_output(stdout: &str, cwd: &Path) -> Result<CommandOutcome, ProviderError> {
    let mut total = None;
    let mut successful = None;
    let mut file = None;
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Results saved to:") {
            file = Some(cwd.join(rest.trim()));
        } else if let Some(rest) = line.strip_prefix("Total Tests:") {
            total = rest.trim().parse::<u64>().ok();
        } else if let Some(rest) = line.strip_prefix("Successful Tests:") {
            successful = rest.trim().parse::<u64>().ok();
        }
    }
    if let Some(path) = &file {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(doc) = serde_json::from_str::<Value>(&text) {
                if let Some(results) = doc["results"].as_array() {
                    let ok = results.iter().filter(|r| r["success"] == true).count() as u64;
                    return Ok(CommandOutcome {
                        total_tests: results.len() as u64,
                        successful_tests: ok,
                        results: results.clone(),
                        results_file: file,
                    });
                }
            }
        }
    }
    match (total, successful) {
        (Some(total_tests), Some(successful_tests)) => Ok(CommandOutcome {
            results: Vec::new(),
            total_tests,
            successful_tests,
            results_file: file,
        }),
        _ => Err(ProviderError::process(
            "the BuildFix command printed neither a readable 'Results saved to:' file nor 'Total Tests:' / 'Successful Tests:' lines",
            "parse",
        )),
    }
}

/// Runs `argv` in `cwd` in a process group of its own; past `timeout` the whole group is killed.
pub async fn run(
    argv: &[String],
    cwd: &Path,
    timeout: Duration,
) -> Result<CommandOutcome, ProviderError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ArgError::invalid_type("options.command", "a non-empty array of strings"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    // Killed with this process (Linux); what the command itself starts is not (it is in the
    // command's process group, which only a timeout kills).
    let mut child = super::spawn::spawn_tied(cmd).await.map_err(|e| {
        ProviderError::Missing(format!(
            "could not run the BuildFix command {program:?} in {}: {e}",
            cwd.display()
        ))
    })?;
    let pid = child.id().unwrap_or(0);
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let collect = async {
        let (mut out, mut err) = (String::new(), String::new());
        let (a, b) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        a?;
        b?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, collect).await {
        Ok(r) => r?,
        Err(_) => {
            #[cfg(unix)]
            if pid > 0 {
                // SAFETY: plain syscall on the group this call created.
                unsafe {
                    libc::killpg(pid as libc::pid_t, libc::SIGKILL);
                }
            }
            return Err(ProviderError::Timeout {
                operation: "BuildFix command".into(),
                timeout_ms: timeout.as_millis() as u64,
            });
        }
    };
    if !status.success() {
        let tail: String = err
            .chars()
            .rev()
            .take(4000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(ProviderError::Process {
            message: format!("the BuildFix command exited with {status}"),
            exit_code: status.code(),
            stderr: tail,
            operation: "command".into(),
        });
    }
    parse_output(&out, cwd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_stay_single_arguments() {
        let model = "qwen3:8b; rm -rf / $(reboot) `x` && echo";
        let argv = expand_argv(&default_argv(), model, false);
        assert_eq!(argv[3], "--models");
        assert_eq!(argv[4], model);
        assert_eq!(argv[5], "--small-fixtures");
        assert_eq!(expand_argv(&default_argv(), model, true).len(), 6);
    }

    #[test]
    fn reads_the_results_file_then_falls_back_to_summary_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r.json"),
            r#"{"results":[{"fixture":"a","success":true},{"fixture":"b","success":false}],"summary":{},"timestamp":1}"#,
        )
        .unwrap();
        let o = parse_output("noise\nResults saved to: r.json\n", dir.path()).unwrap();
        assert_eq!(
            (o.total_tests, o.successful_tests, o.results.len()),
            (2, 1, 2)
        );
        let o = parse_output("Total Tests: 7\nSuccessful Tests: 5\n", dir.path()).unwrap();
        assert_eq!((o.total_tests, o.successful_tests), (7, 5));
        assert!(parse_output("nothing useful", dir.path()).is_err());
    }

    #[test]
    fn finds_the_monorepo_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("pnpm-workspace.yaml"), "packages: []\n").unwrap();
        std::fs::create_dir_all(root.join("packages/buildfix")).unwrap();
        std::fs::create_dir_all(root.join("packages/benchmark/src")).unwrap();
        let (found, argv) = monorepo_command(&root.join("packages/benchmark/src")).unwrap();
        assert_eq!(found, root);
        assert_eq!(argv[0], "pnpm");
    }

    #[tokio::test]
    async fn a_shell_metacharacter_model_runs_nothing_but_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let model = format!("x; touch {}", marker.display());
        // `echo` prints its arguments; a shell would have run `touch`.
        let argv = expand_argv(
            &["echo".into(), "Total Tests: 1".into(), "{model}".into()],
            &model,
            false,
        );
        let err = run(&argv, dir.path(), Duration::from_secs(5)).await;
        // The single echoed line has no "Successful Tests:", so parsing fails, harmlessly.
        assert!(err.is_err());
        assert!(!marker.exists());
    }

    #[tokio::test]
    async fn a_command_past_its_timeout_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let err = run(
            &["sleep".into(), "30".into()],
            dir.path(),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
