//! The worker's stdio protocol as types (`docs/engine.md`): one tagged enum per direction, so a
//! message the worker sends is read into its variant or refused, never probed field by field.
//! The version is compiled in from `worker/protocol.json`, the file the worker reads too, and a
//! worker that says another version is refused when it starts.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const PROTOCOL_JSON: &str = include_str!("../../worker/protocol.json");

/// The protocol version this addon speaks.
pub fn protocol_version() -> u32 {
    static VERSION: OnceLock<u32> = OnceLock::new();
    *VERSION.get_or_init(|| super::version_in(PROTOCOL_JSON, "worker/protocol.json"))
}

/// How the model server is spoken to, as the provider's configuration says (checked where it
/// is given, in `lib/provider/options.js`). Sent inside each job; the worker applies its own
/// defaults for what is absent (the API inferred from the endpoint, no key, no seed, no limit).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerOptions {
    /// `ollama` or `openai`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The *name* of the environment variable holding the API key; the key itself never
    /// passes through here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Requests in flight per endpoint, across the workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u32>,
}

/// One job: run a fixture folder with a model. Optional fields are left out when unset, so the
/// worker applies its own defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub fixture_dir: PathBuf,
    pub fixture: String,
    pub model: String,
    pub max_attempts: u32,
    pub attempt_timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(flatten)]
    pub server: ServerOptions,
}

/// What this side sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToWorker {
    Ping {
        id: String,
    },
    /// Boxed: a job is far larger than the other messages.
    Job(Box<Job>),
    /// Stop job `id`: dropped if it is queued, aborted if it runs. Answered with `cancelled`
    /// (nothing, when no job has that id any more: its answer was already sent).
    Cancel {
        id: String,
    },
    Shutdown,
}

impl ToWorker {
    /// The id the answer will carry; `None` for messages that get none.
    pub fn id(&self) -> Option<&str> {
        match self {
            ToWorker::Ping { id } | ToWorker::Cancel { id } => Some(id),
            ToWorker::Job(job) => Some(&job.id),
            ToWorker::Shutdown => None,
        }
    }
}

/// What the worker sends. Fields this side does not use (`typescript`, `jobsDone`, ...) are
/// ignored, so the worker may add some without a version change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FromWorker {
    /// Once, at start. `protocol` is absent only in workers older than the field.
    Ready {
        #[serde(default)]
        protocol: Option<u32>,
    },
    Pong {
        id: Option<String>,
    },
    /// A job's answer: the engine's `BuildFixResult`, passed on to JS as it is.
    Result {
        id: Option<String>,
        result: Map<String, Value>,
    },
    Cancelled {
        id: Option<String>,
    },
    /// A message the worker refused (a malformed job, an unknown type, a bad line).
    Error {
        #[serde(default)]
        id: Option<String>,
        message: String,
    },
}

impl FromWorker {
    /// The id of the message this answers.
    pub fn id(&self) -> Option<&str> {
        match self {
            FromWorker::Ready { .. } => None,
            FromWorker::Pong { id }
            | FromWorker::Result { id, .. }
            | FromWorker::Cancelled { id }
            | FromWorker::Error { id, .. } => id.as_deref(),
        }
    }
}

/// Why a worker's `ready` is refused, or `None` when it speaks this addon's version.
pub fn version_mismatch(said: Option<u32>) -> Option<String> {
    let ours = protocol_version();
    match said {
        Some(v) if v == ours => None,
        Some(v) => Some(format!(
            "the BuildFix worker speaks protocol version {v}, this addon speaks version {ours}: \
             the worker script and the native addon come from different versions of the package \
             (reinstall it)"
        )),
        None => Some(format!(
            "the BuildFix worker names no protocol version, this addon speaks version {ours}: \
             the worker script and the native addon come from different versions of the package \
             (reinstall it)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_version_is_the_one_the_worker_reads() {
        let file: Value = serde_json::from_str(PROTOCOL_JSON).unwrap();
        assert_eq!(file["version"], json!(protocol_version()));
        assert!(version_mismatch(Some(protocol_version())).is_none());
        let refused = version_mismatch(Some(1)).unwrap();
        assert!(
            refused.contains("version 1")
                && refused.contains(&format!("version {}", protocol_version()))
        );
    }

    #[test]
    fn messages_have_the_documented_shape() {
        let job = ToWorker::Job(Box::new(Job {
            id: "j-1".into(),
            fixture_dir: "/f".into(),
            fixture: "a".into(),
            model: "gold".into(),
            max_attempts: 2,
            attempt_timeout_ms: 500,
            endpoint: None,
            prompt: Some("p".into()),
            temperature: None,
            max_tokens: Some(9),
            server: ServerOptions::default(),
        }));
        assert_eq!(
            serde_json::to_value(&job).unwrap(),
            json!({"type": "job", "id": "j-1", "fixtureDir": "/f", "fixture": "a", "model": "gold",
                   "maxAttempts": 2, "attemptTimeoutMs": 500, "prompt": "p", "maxTokens": 9})
        );
        let remote = ToWorker::Job(Box::new(Job {
            id: "j-2".into(),
            fixture_dir: "/f".into(),
            fixture: "a".into(),
            model: "m".into(),
            max_attempts: 1,
            attempt_timeout_ms: 500,
            endpoint: Some("http://h/v1".into()),
            prompt: None,
            temperature: None,
            max_tokens: None,
            server: ServerOptions {
                api: Some("openai".into()),
                api_key_env: Some("KEY_VAR".into()),
                seed: Some(7),
                max_concurrent_requests: Some(2),
            },
        }));
        assert_eq!(
            serde_json::to_value(&remote).unwrap(),
            json!({"type": "job", "id": "j-2", "fixtureDir": "/f", "fixture": "a", "model": "m",
                   "maxAttempts": 1, "attemptTimeoutMs": 500, "endpoint": "http://h/v1",
                   "api": "openai", "apiKeyEnv": "KEY_VAR", "seed": 7, "maxConcurrentRequests": 2})
        );
        assert_eq!(
            serde_json::to_value(ToWorker::Shutdown).unwrap(),
            json!({"type": "shutdown"})
        );
        assert_eq!(
            serde_json::to_value(ToWorker::Cancel { id: "j".into() }).unwrap(),
            json!({"type": "cancel", "id": "j"})
        );
        let read = |v: Value| serde_json::from_value::<FromWorker>(v);
        assert_eq!(
            read(json!({"type": "ready", "pid": 1, "protocol": 2, "typescript": "5"})).unwrap(),
            FromWorker::Ready { protocol: Some(2) }
        );
        assert_eq!(
            read(json!({"type": "error", "id": null, "message": "m"})).unwrap(),
            FromWorker::Error {
                id: None,
                message: "m".into()
            }
        );
        assert!(
            read(json!({"type": "result", "id": "j"})).is_err(),
            "a result needs its result"
        );
        assert!(read(json!({"type": "hello"})).is_err());
    }
}
