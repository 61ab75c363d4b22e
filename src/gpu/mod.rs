//! GPU readings from NVIDIA's management library (NVML), loaded at run time with `dlopen` so the
//! addon neither links against it nor needs it: on a machine without the library (or without an
//! NVIDIA GPU) every reading is `None`, never an error. The library is opened and initialised
//! once per process and kept (NVML allows any number of readers after one `nvmlInit`).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

/// What the first GPU reports now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuSample {
    /// Percent of the last sample period a kernel ran (NVML's `utilization.gpu`), 0..100.
    pub usage: f64,
    /// Device memory in use, MiB.
    pub memory_used_mb: f64,
    /// Board power draw, watts; `None` when the board cannot say.
    pub power_watts: Option<f64>,
}

type Handle = *mut c_void;
/// NVML's return code type; 0 is `NVML_SUCCESS`.
type Ret = c_int;

#[repr(C)]
#[derive(Default)]
struct Utilization {
    gpu: c_uint,
    memory: c_uint,
}

#[repr(C)]
#[derive(Default)]
struct Memory {
    total: u64,
    free: u64,
    used: u64,
}

type InitFn = unsafe extern "C" fn() -> Ret;
type HandleByIndexFn = unsafe extern "C" fn(c_uint, *mut Handle) -> Ret;
type UtilizationFn = unsafe extern "C" fn(Handle, *mut Utilization) -> Ret;
type MemoryFn = unsafe extern "C" fn(Handle, *mut Memory) -> Ret;
type PowerFn = unsafe extern "C" fn(Handle, *mut c_uint) -> Ret;

/// The entry points used, with the signatures of `nvml.h`.
struct Nvml {
    handle_by_index: HandleByIndexFn,
    utilization: UtilizationFn,
    memory: MemoryFn,
    power: PowerFn,
}

// SAFETY: NVML's functions are documented thread-safe; the struct holds only function pointers.
unsafe impl Send for Nvml {}
unsafe impl Sync for Nvml {}

/// The library names NVIDIA's driver installs (the versioned one first, as `nvidia-smi` does).
const LIBRARIES: [&CStr; 2] = [c"libnvidia-ml.so.1", c"libnvidia-ml.so"];

fn symbol(lib: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `lib` is a live handle from dlopen and `name` is NUL-terminated.
    let ptr = unsafe { libc::dlsym(lib, name.as_ptr() as *const c_char) };
    (!ptr.is_null()).then_some(ptr)
}

fn open() -> Option<Nvml> {
    let lib = LIBRARIES.iter().find_map(|name| {
        // SAFETY: dlopen with a NUL-terminated name; a null result means "not there".
        let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!h.is_null()).then_some(h)
    })?;
    let init = symbol(lib, c"nvmlInit_v2")?;
    let handle_by_index = symbol(lib, c"nvmlDeviceGetHandleByIndex_v2")?;
    let utilization = symbol(lib, c"nvmlDeviceGetUtilizationRates")?;
    let memory = symbol(lib, c"nvmlDeviceGetMemoryInfo")?;
    let power = symbol(lib, c"nvmlDeviceGetPowerUsage")?;
    // SAFETY: each pointer comes from dlsym of the symbol `nvml.h` declares with this signature.
    unsafe {
        let init = std::mem::transmute::<*mut c_void, InitFn>(init);
        if init() != 0 {
            return None;
        }
        Some(Nvml {
            handle_by_index: std::mem::transmute::<*mut c_void, HandleByIndexFn>(handle_by_index),
            utilization: std::mem::transmute::<*mut c_void, UtilizationFn>(utilization),
            memory: std::mem::transmute::<*mut c_void, MemoryFn>(memory),
            power: std::mem::transmute::<*mut c_void, PowerFn>(power),
        })
    }
}

fn nvml() -> Option<&'static Nvml> {
    static NVML: OnceLock<Option<Nvml>> = OnceLock::new();
    NVML.get_or_init(open).as_ref()
}

/// Whether NVML could be loaded and initialised on this machine.
pub fn available() -> bool {
    nvml().is_some()
}

/// The first GPU's reading, or `None` without NVML or a GPU.
pub fn sample() -> Option<GpuSample> {
    let n = nvml()?;
    let mut device: Handle = std::ptr::null_mut();
    let mut util = Utilization::default();
    let mut mem = Memory::default();
    let mut milliwatts: c_uint = 0;
    // SAFETY: NVML functions called with valid out-pointers; `device` is only used after success.
    unsafe {
        if (n.handle_by_index)(0, &mut device) != 0 {
            return None;
        }
        if (n.utilization)(device, &mut util) != 0 || (n.memory)(device, &mut mem) != 0 {
            return None;
        }
        let power =
            ((n.power)(device, &mut milliwatts) == 0).then(|| f64::from(milliwatts) / 1000.0);
        Some(GpuSample {
            usage: f64::from(util.gpu),
            memory_used_mb: mem.used as f64 / 1024.0 / 1024.0,
            power_watts: power,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_agrees_with_availability() {
        // Without NVML (the usual CI machine) there is no sample and no error; with it, the
        // figures are within their ranges.
        match sample() {
            None => {}
            Some(s) => {
                assert!(available());
                assert!((0.0..=100.0).contains(&s.usage));
                assert!(s.memory_used_mb >= 0.0);
                assert!(s.power_watts.is_none_or(|w| w >= 0.0));
            }
        }
    }

    #[test]
    fn loading_twice_is_the_same_answer() {
        assert_eq!(available(), available());
    }
}
