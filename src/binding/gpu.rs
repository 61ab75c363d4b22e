//! GPU readings for `BaseProvider.measureResources()`.

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use napi_derive::napi;

use crate::gpu;

/// The first GPU's reading: utilisation %, memory used in MiB, power in watts.
#[napi(object)]
pub struct NativeGpuSample {
    pub usage: f64,
    pub memory_used_mb: f64,
    pub power_watts: Option<f64>,
}

/// `null` without NVML (its library absent) or without a GPU; never an error.
#[napi(catch_unwind)]
pub fn gpu_sample() -> Option<NativeGpuSample> {
    gpu::sample().map(|s| NativeGpuSample {
        usage: s.usage,
        memory_used_mb: s.memory_used_mb,
        power_watts: s.power_watts,
    })
}
