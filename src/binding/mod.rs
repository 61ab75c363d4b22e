//! The napi binding layer: the only place that knows about Node. Each file converts one
//! capability's core types at this boundary and nothing else.

mod args;
mod blocking;
mod cache;
mod cancel;
mod checkers;
mod debug;
mod error;
mod gpu;
mod handles;
mod history;
mod loadtest;
mod mine;
mod monitor;
mod panic;
mod pool;
mod procfs;
mod provider;
mod shared_cache;
mod snapshot;
