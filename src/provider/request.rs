//! What a request asks of the provider and what it gets back, in core terms (the binding
//! converts the JS request into these, once), and the key its answer is cached under.

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::protocol::ServerOptions;
use super::{version_in, ProviderError};

/// Version of the plan format and judging rule. Part of every cache key: a change to either
/// must not serve answers computed under the old one. The number and its history live in
/// `worker/plan-format.json`, the file `worker/plan.js` reads too.
pub fn plan_format_version() -> u32 {
    static VERSION: OnceLock<u32> = OnceLock::new();
    *VERSION.get_or_init(|| {
        version_in(
            include_str!("../../worker/plan-format.json"),
            "worker/plan-format.json",
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FixtureType {
    #[default]
    Small,
    Massive,
}

impl FixtureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FixtureType::Small => "small",
            FixtureType::Massive => "massive",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExecuteRequest {
    pub fixture_type: FixtureType,
    /// Only these fixtures (by name); all of the set when `None`.
    pub fixtures: Option<Vec<String>>,
    /// A folder of fixture folders of the caller's own, in place of the bundled `small` set.
    pub fixtures_dir: Option<std::path::PathBuf>,
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Read and write the result cache for this request.
    pub use_cache: bool,
}

#[derive(Debug, Clone)]
pub struct ExecuteOutcome {
    pub results: Vec<Value>,
    pub fixture_type: FixtureType,
    pub cached: bool,
    /// Jobs that failed for the infrastructure (worker crash, timeout, model server down)
    /// rather than for the plan.
    pub infrastructure_failures: usize,
    /// What the result cache could not do for this request (the answer stands without it).
    pub cache_failures: Vec<ProviderError>,
}

/// The fields of a request that decide its answer, and the provider settings that do too.
pub struct KeyParts<'a> {
    pub request: &'a ExecuteRequest,
    pub model: &'a str,
    pub endpoint: Option<&'a str>,
    /// The API and seed decide the answer; the key variable and the request limit do not.
    pub server: &'a ServerOptions,
    pub max_attempts: u32,
    /// Each fixture's name and content hash.
    pub fixtures: &'a [(String, String)],
}

/// The cache key of an answer: a hash over everything that decides it.
pub fn cache_key(p: &KeyParts<'_>) -> String {
    let key = json!({
        "v": plan_format_version(),
        "model": p.model,
        "endpoint": p.endpoint,
        "api": p.server.api,
        "seed": p.server.seed,
        "fixtures": p.fixtures,
        "prompt": p.request.prompt,
        "temperature": p.request.temperature,
        "maxTokens": p.request.max_tokens,
        "maxAttempts": p.max_attempts,
    });
    format!(
        "buildfix:{}",
        blake3::hash(key.to_string().as_bytes()).to_hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_format_version_is_the_one_the_worker_reads() {
        let file: Value =
            serde_json::from_str(include_str!("../../worker/plan-format.json")).unwrap();
        assert_eq!(file["version"], json!(plan_format_version()));
        assert!(
            plan_format_version() >= 3,
            "format 3 added the wider error families"
        );
    }

    #[test]
    fn a_malformed_version_file_is_named_in_the_panic() {
        let panic = std::panic::catch_unwind(|| version_in("{\"v\": 1}", "worker/x.json"))
            .expect_err("a file without `version` is refused");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("worker/x.json"), "{message}");
        assert_eq!(version_in("{\"version\": 7}", "worker/x.json"), 7);
    }
}
