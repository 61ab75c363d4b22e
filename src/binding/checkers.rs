// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

//! The thread carrier's bridge to JS: the provider core asks a JS host (`lib/provider/checkers.js`)
//! to start, feed and stop checker threads through one threadsafe function, and the host hands
//! each line a thread sends, and its exit, back through [`checker_event`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use napi::bindgen_prelude::{FnArgs, Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use tokio::sync::mpsc::UnboundedSender;

use super::error::{failure, Result};
use crate::provider::thread;
use crate::provider::{ThreadEvent, ThreadHost};

/// What the host receives: `(operation, checker id, payload)`: `start` (payload: the limits as
/// JSON), `send` (payload: one protocol line) or `terminate`.
type HostArgs = FnArgs<(&'static str, f64, String)>;

/// The host as JS passes it to `connectBuildFixService`.
pub type HostCallback<'a> = Function<'a, HostArgs, Unknown<'static>>;

type HostFn = ThreadsafeFunction<
    (&'static str, u64, String),
    Unknown<'static>,
    HostArgs,
    Status,
    // The callback gets the call, not (err, call).
    false,
    // Weak: the host never keeps Node alive; a checker's own Worker handle decides that.
    true,
>;

/// Where each live checker's events go, by checker id.
fn routes() -> &'static Mutex<HashMap<u64, UnboundedSender<ThreadEvent>>> {
    static ROUTES: OnceLock<Mutex<HashMap<u64, UnboundedSender<ThreadEvent>>>> = OnceLock::new();
    ROUTES.get_or_init(Default::default)
}

fn lock_routes() -> std::sync::MutexGuard<'static, HashMap<u64, UnboundedSender<ThreadEvent>>> {
    routes().lock().unwrap_or_else(|p| p.into_inner())
}

/// A JS function that starts, feeds and stops checker threads.
pub struct JsThreadHost {
    host: HostFn,
}

impl JsThreadHost {
    pub fn new(host: HostCallback<'_>) -> Result<Arc<Self>> {
        let host: HostFn = host
            .build_threadsafe_function::<(&'static str, u64, String)>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(FnArgs::from((ctx.value.0, ctx.value.1 as f64, ctx.value.2))))
            .map_err(|e| failure(e.reason.clone()))?;
        Ok(Arc::new(JsThreadHost { host }))
    }

    /// Queues a call for the JS thread, in order with every other; never waits for it.
    fn call(&self, op: &'static str, id: u64, payload: String) -> std::result::Result<(), String> {
        match self
            .host
            .call((op, id, payload), ThreadsafeFunctionCallMode::NonBlocking)
        {
            Status::Ok => Ok(()),
            status => Err(format!("the JS thread refused the call ({status})")),
        }
    }
}

impl ThreadHost for JsThreadHost {
    fn start(
        &self,
        id: u64,
        heap_mb: u32,
        low_memory: bool,
        events: UnboundedSender<ThreadEvent>,
    ) -> std::result::Result<(), String> {
        lock_routes().insert(id, events);
        let limits = serde_json::json!({ "heapMb": heap_mb, "lowMemory": low_memory }).to_string();
        self.call("start", id, limits).inspect_err(|_| {
            lock_routes().remove(&id);
        })
    }

    fn send(&self, id: u64, line: String) -> std::result::Result<(), String> {
        if !lock_routes().contains_key(&id) {
            return Err("the checker thread has exited".into());
        }
        self.call("send", id, line)
    }

    fn terminate(&self, id: u64) {
        if lock_routes().contains_key(&id) {
            let _ = self.call("terminate", id, String::new());
        }
    }
}

/// From the JS host: checker `id` sent `line`, or (no line) it stopped with `exitCode` after
/// throwing `error`. Events for a checker nobody waits on any more are dropped.
#[napi(catch_unwind)]
pub fn checker_event(id: f64, line: Option<String>, exit_code: Option<i32>, error: Option<String>) {
    let id = id as u64;
    match line {
        Some(line) => {
            if let Some(route) = lock_routes().get(&id) {
                let _ = route.send(ThreadEvent::Line(line));
            }
        }
        None => {
            if let Some(route) = lock_routes().remove(&id) {
                let _ = route.send(ThreadEvent::Exit {
                    code: exit_code,
                    error: error.unwrap_or_default(),
                });
            }
            // The thread's isolate is gone: what it freed goes back to the system.
            thread::release_free_memory(true);
        }
    }
}
