//! The fixture sets a request can name: the bundled `small` set, and the seeded `massive` set,
//! generated on first use and shared by every provider on the machine.

use std::path::{Path, PathBuf};

use super::fixtures::{self, Fixture};
use super::request::FixtureType;
use super::ProviderError;
use crate::error::ArgError;

pub struct FixtureSets {
    /// The package folder: holds `fixtures/small` and `fixtures/generate.js`.
    package_root: PathBuf,
    node: PathBuf,
    massive_count: u32,
    massive_seed: u32,
    massive: tokio::sync::OnceCell<PathBuf>,
}

impl FixtureSets {
    pub fn new(package_root: &Path, node: &Path, massive_count: u32, massive_seed: u32) -> Self {
        Self {
            package_root: package_root.to_path_buf(),
            node: node.to_path_buf(),
            massive_count,
            massive_seed,
            massive: tokio::sync::OnceCell::new(),
        }
    }

    /// The fixtures a request asks for: `names` of the set, or all of it. `own`: a folder of
    /// fixture folders of the caller's own, in place of the bundled `small` set (the binding
    /// refuses it beside `massive`).
    pub async fn select(
        &self,
        kind: FixtureType,
        names: Option<&[String]>,
        own: Option<&Path>,
        unique: u64,
    ) -> Result<Vec<Fixture>, ProviderError> {
        let root = match own {
            Some(dir) if !dir.is_dir() => {
                return Err(ArgError::out_of_range(
                    "metadata.fixturesDir",
                    "an existing folder of fixture folders",
                    format!("{:?}", dir.display().to_string()),
                )
                .into())
            }
            Some(dir) => dir.to_path_buf(),
            None => self.root(kind, unique).await?,
        };
        let all = fixtures::list(&root)?;
        let Some(names) = names else {
            return Ok(all);
        };
        names
            .iter()
            .map(|name| {
                all.iter()
                    .find(|f| &f.name == name)
                    .cloned()
                    .ok_or_else(|| {
                        ArgError::out_of_range(
                            "metadata.fixtures",
                            "names of fixtures in the chosen set",
                            match own {
                                Some(dir) => {
                                    format!("{name:?} (no such fixture in {})", dir.display())
                                }
                                None => format!("{name:?} (not a {} fixture)", kind.as_str()),
                            },
                        )
                        .into()
                    })
            })
            .collect()
    }

    /// The folder of a set, generating the massive set on first use (`unique` names its
    /// staging folder).
    async fn root(&self, kind: FixtureType, unique: u64) -> Result<PathBuf, ProviderError> {
        match kind {
            FixtureType::Small => Ok(self.package_root.join("fixtures/small")),
            FixtureType::Massive => self
                .massive
                .get_or_try_init(|| self.generate_massive(unique))
                .await
                .cloned(),
        }
    }

    /// The generated set lives in the system's temporary folder under a name that carries the
    /// seed, the count and a hash of the generator, is generated into a staging folder and
    /// renamed into place (so a reader never sees half of it), and is only ever read (jobs work
    /// on copies).
    async fn generate_massive(&self, unique: u64) -> Result<PathBuf, ProviderError> {
        let generator = self.package_root.join("fixtures/generate.js");
        let version = blake3::hash(&std::fs::read(&generator)?).to_hex();
        let name = format!(
            "promethean-buildfix-massive-{}-{}-{}",
            self.massive_seed,
            self.massive_count,
            &version[..16]
        );
        let out = std::env::temp_dir().join(&name);
        if out.join(".complete").is_file() {
            return Ok(out);
        }
        let staging =
            std::env::temp_dir().join(format!("{name}.staging-{}-{unique}", std::process::id()));
        let status = tokio::process::Command::new(&self.node)
            .arg(&generator)
            .args(["--out".as_ref(), staging.as_os_str()])
            .args(["--count", &self.massive_count.to_string()])
            .args(["--seed", &self.massive_seed.to_string()])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(ProviderError::process(
                format!("generating the massive fixtures failed ({status})"),
                "generate",
            ));
        }
        std::fs::write(staging.join(".complete"), b"")?;
        if std::fs::rename(&staging, &out).is_err() {
            // Another process finished first: use its copy.
            let _ = std::fs::remove_dir_all(&staging);
        }
        if out.join(".complete").is_file() {
            Ok(out)
        } else {
            Err(ProviderError::Io(format!(
                "the massive fixtures could not be put in place at {}",
                out.display()
            )))
        }
    }
}
