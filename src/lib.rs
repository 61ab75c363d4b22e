//! Native core of `@promethean/benchmark`.
//!
//! Each capability is a plain Rust module that knows nothing of Node; the napi binding layer in
//! [`binding`] converts at one boundary and is compiled only with the `node` feature.

pub mod cache;
pub mod cancel;
pub mod debug;
pub mod error;
pub mod fingerprint;
pub mod gpu;
pub mod history;
pub mod loadtest;
pub mod mine;
pub mod monitor;
pub mod pool;
pub mod procfs;
pub mod provider;
pub mod snapshot;

#[cfg(feature = "node")]
mod binding;
