//! Blocking core work behind a JS promise: one way for every capability whose core blocks
//! (folder walks, SQLite, git).

use napi::bindgen_prelude::{Env, JsError, PromiseRaw, ToNapiValue};

use super::error::{failure, Result};

/// Runs `work` on tokio's blocking pool and settles the promise on the JS thread, where a core
/// error becomes a JS error with its own code (not napi's generic status). `what` names the
/// work in the message of a task that died (a panic inside `work`).
pub fn run_blocking<'env, T, E, V>(
    env: &'env Env,
    what: &'static str,
    work: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    E: Into<napi::Error<&'static str>> + Send + 'static,
    V: ToNapiValue,
{
    let promise = env.spawn_future_with_callback(
        async move {
            napi::bindgen_prelude::spawn_blocking(work)
                .await
                .map_err(|e| napi::Error::from_reason(format!("{what} task failed: {e}")))
        },
        move |env, outcome: std::result::Result<T, E>| match outcome {
            Ok(value) => Ok(convert(value)),
            Err(e) => {
                let error: napi::Error<&'static str> = e.into();
                Err(napi::Error::from(JsError::from(error).into_unknown(*env)))
            }
        },
    );
    promise.map_err(|e| failure(e.reason))
}
