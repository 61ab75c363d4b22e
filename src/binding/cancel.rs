// napi-derive registers exports only outside `cfg(test)`, so test builds see no caller.
#![cfg_attr(test, allow(dead_code))]

use napi_derive::napi;

use crate::cancel::Cancel;

/// Cancels the operation it was handed to (`execute`, snapshot `create`/`restore`): made by the
/// JS layer for an `AbortSignal`, and cancelled from its `abort` listener.
#[napi]
pub struct NativeCancel {
    inner: Cancel,
}

#[napi]
impl NativeCancel {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        Self {
            inner: Cancel::new(),
        }
    }

    #[napi(catch_unwind)]
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

impl NativeCancel {
    pub fn token(&self) -> Cancel {
        self.inner.clone()
    }
}
