// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

//! The one bridge of the cores' debug events to JS (`lib/debug.js`): a switch of namespaces and
//! one threadsafe function that receives every enabled event.

use napi::bindgen_prelude::{FnArgs, Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

use super::error::Result;
use crate::debug::{self, Namespace};

/// What a core event becomes in JS: `(namespace, message)`, e.g. `('pool', 'worker 12 spawned')`.
type DebugArgs = FnArgs<(&'static str, String)>;

type DebugFn = ThreadsafeFunction<
    // What a core thread sends: the namespace and the message.
    (Namespace, String),
    // What the JS callback returns: ignored.
    Unknown<'static>,
    // What the JS callback receives: (namespace name, message).
    DebugArgs,
    // Error status of the queue.
    Status,
    // CalleeHandled = false: the callback gets the event, not (err, event).
    false,
    // Weak = true: logging never keeps Node alive.
    true,
>;

/// Enables the core namespaces named in `namespaces` (`pool`, `cache`, `worker`, `provider`,
/// `loadtest`) and sends their events to `sink`; an empty list (or no sink) turns them all off.
#[napi(
    catch_unwind,
    ts_args_type = "namespaces: string[], sink?: (namespace: string, message: string) => void"
)]
pub fn set_debug_sink(
    namespaces: Vec<String>,
    sink: Option<Function<'_, DebugArgs, Unknown<'static>>>,
) -> Result<()> {
    let mask = Namespace::ALL
        .iter()
        .filter(|ns| namespaces.iter().any(|n| n == ns.name()))
        .fold(0, |m, ns| m | ns.bit());
    let sink = match sink {
        Some(f) if mask != 0 => {
            let tsfn: DebugFn = f
                .build_threadsafe_function::<(Namespace, String)>()
                .weak::<true>()
                .callee_handled::<false>()
                .build_callback(|ctx| Ok(FnArgs::from((ctx.value.0.name(), ctx.value.1))))
                .map_err(|e| super::error::failure(e.reason.clone()))?;
            // NonBlocking: a core thread never waits on the JS thread to log.
            Some(Box::new(move |ns: Namespace, message: String| {
                let _ = tsfn.call((ns, message), ThreadsafeFunctionCallMode::NonBlocking);
            })
                as Box<dyn Fn(Namespace, String) + Send + Sync>)
        }
        _ => None,
    };
    debug::configure(mask, sink);
    Ok(())
}

/// A core event from JS (the benchmarks' way to time the off path of the switch).
#[napi(catch_unwind)]
pub fn debug_event(namespace: String, message: String) {
    if let Some(ns) = Namespace::ALL.iter().find(|ns| ns.name() == namespace) {
        debug::emit(*ns, || message);
    }
}
