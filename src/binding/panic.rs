//! Panics never reach Node as an abort.
//!
//! Every synchronous export is compiled with napi-rs's `catch_unwind`, and napi-rs already
//! contains panics of async tasks; both turn the panic into a JS error with napi's
//! `GenericFailure` code and the panic's message. That code is shared with ordinary runtime
//! faults, so the hook below keeps the messages of recent panics, and the JS layer's one
//! translation (`lib/native.js`) asks [`is_internal_panic`] whether an error it sees was one: then
//! its code becomes `ERR_INTERNAL`. The hook runs on the panicking thread before the unwind, so
//! the message is recorded before the error can reach JS.

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use std::collections::VecDeque;
use std::sync::{Mutex, Once};

use napi_derive::napi;

/// How many unclaimed panic messages are kept; older ones are forgotten (a panic whose error
/// nobody translated, e.g. in a detached task, must not grow memory).
const KEPT: usize = 32;

/// Messages of recent panics; `None` for a payload that is not a string, which napi-rs reports
/// with a generic message of its own.
static RECENT: Mutex<VecDeque<Option<String>>> = Mutex::new(VecDeque::new());
static HOOK: Once = Once::new();

fn message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Some((*s).to_string())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}

/// Whether napi-rs would report the recorded panic with `message`.
fn matches(recorded: &Option<String>, message: &str) -> bool {
    match recorded {
        Some(m) => m == message,
        // napi-rs's own wording for payloads that are not strings (sync and async exports).
        None => {
            message.starts_with("panic from Rust code:") || message == "Panic in async function"
        }
    }
}

/// Installs the recording hook once per process, chained before the previous hook (which still
/// prints the panic and its location to stderr).
pub fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == KEPT {
                recent.pop_front();
            }
            recent.push_back(message(info.payload()));
            drop(recent);
            previous(info);
        }));
    });
}

#[napi_derive::module_init]
fn init() {
    install_hook();
}

/// Whether `message` is the message of a recent panic; claims it (each panic is reported once).
#[napi(catch_unwind)]
pub fn is_internal_panic(message: String) -> bool {
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    match recent.iter().position(|m| matches(m, &message)) {
        Some(i) => {
            recent.remove(i);
            true
        }
        None => false,
    }
}

/// Panics on purpose on the JS thread, so that tests can prove a panic in an export becomes a
/// JS error and the process lives.
#[napi(catch_unwind, js_name = "__panicForTests")]
pub fn panic_for_tests() {
    panic!("deliberate panic for tests (synchronous)");
}

/// Panics on purpose inside a task on the runtime; the promise rejects.
#[napi(catch_unwind, js_name = "__panicForTestsAsync")]
pub async fn panic_for_tests_async() {
    tokio::task::yield_now().await;
    panic!("deliberate panic for tests (asynchronous)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_panic_matches_its_own_message_only() {
        let recorded = Some("boom".to_string());
        assert!(matches(&recorded, "boom"));
        assert!(!matches(&recorded, "boom!"));
        assert!(matches(&None, "panic from Rust code: Any { .. }"));
        assert!(matches(&None, "Panic in async function"));
        assert!(!matches(&None, "boom"));
    }

    #[test]
    fn payloads_are_read_as_napi_rs_reads_them() {
        assert_eq!(message(&"static"), Some("static".to_string()));
        assert_eq!(message(&String::from("owned")), Some("owned".to_string()));
        assert_eq!(message(&42u32), None);
    }
}
