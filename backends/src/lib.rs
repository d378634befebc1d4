//! The only module of clap-tools that names concrete burn backends.
//!
//! A build picks its backend by feature: `cuda` (burn-cuda), `wgpu` (burn-wgpu: Vulkan, Metal, DX12),
//! or, without either, the CPU backend burn-flex. The rest of the project is generic over
//! [`burn::tensor::backend::Backend`] and reaches a concrete type only through [`Selected`] and
//! [`AutodiffSelected`].

pub use burn;

pub mod testing;

/// The CPU backend, always built.
pub type Cpu = burn::backend::Flex;

#[cfg(feature = "cuda")]
pub type Selected = burn::backend::Cuda;
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub type Selected = burn::backend::Wgpu;
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
pub type Selected = Cpu;

/// The selected backend with automatic differentiation, for training.
pub type AutodiffSelected = burn::backend::Autodiff<Selected>;

/// The device type of the selected backend.
pub type Device = <Selected as burn::tensor::backend::BackendTypes>::Device;

/// Whether the environment's choice of CPU kernels (`CLAP_TOOLS_KERNELS`: auto, portable or stock)
/// is one there is; a program checks it before starting work, as an unknown value would otherwise
/// stop the process at the first convolution.
pub fn check_cpu_kernels() -> Result<(), String> {
    clap_tools_kernels::mode_from_env().map(|_| ())
}

/// Name of the backend this build selected, for logs and `--version`.
pub const fn backend_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "cuda"
    } else if cfg!(feature = "wgpu") {
        "wgpu"
    } else {
        "cpu (flex)"
    }
}

/// The default device of the selected backend (first GPU, or the CPU).
pub fn default_device() -> Device {
    Device::default()
}

/// The devices to train on, data parallel: the first `count`, or every device the backend can train
/// on together (CUDA: the GPUs that `CUDA_VISIBLE_DEVICES` leaves; wgpu and the CPU backend: one, as
/// burn-wgpu cannot move tensors between adapters).
pub fn devices(count: Option<usize>) -> Result<Vec<Device>, String> {
    let visible = visible_devices();
    match count {
        None => Ok(visible),
        Some(n) if n >= 1 && n <= visible.len() => Ok(visible[..n].to_vec()),
        Some(n) => Err(format!(
            "{n} devices asked for; the {} backend trains on {} ({visible:?}){}",
            backend_name(),
            visible.len(),
            if cfg!(feature = "cuda") { "" } else { ": several devices need the cuda feature" }
        )),
    }
}

/// Move a small tensor from every other device to the first, as data parallel training does at
/// every step, and report a failure as an error instead of a panic mid-run (CUDA moves tensors
/// between GPUs with NCCL, loaded at run time).
pub fn check_transfers(devices: &[Device]) -> Result<(), String> {
    use burn::tensor::Tensor;
    let Some(first) = devices.first() else { return Ok(()) };
    for d in &devices[1..] {
        let moved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let t = Tensor::<Selected, 1>::from_floats([1.0, 2.0], d).to_device(first);
            t.sum().into_scalar()
        }));
        match moved {
            Ok(3.0) => {}
            Ok(v) => return Err(format!("a tensor moved from {d:?} to {first:?} arrived changed (sum {v}, not 3)")),
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Err(format!(
                    "cannot move tensors from {d:?} to {first:?} ({why}); multi-GPU CUDA training needs NCCL \
                     (libnccl.so.2, e.g. the libnccl2 package) — or train on one device"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(feature = "cuda")]
fn visible_devices() -> Vec<Device> {
    use burn::tensor::backend::Backend;
    // Type 0: CUDA devices.
    let n = Selected::device_count(0).max(1);
    (0..n).map(burn::backend::cuda::CudaDevice::new).collect()
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
fn visible_devices() -> Vec<Device> {
    vec![Device::default()]
}

/// The CPU: one device, or as many copies of it as `CLAP_TOOLS_CPU_DEVICES` says (each part of a
/// batch then goes through its own copy of the model, as on GPUs: how data parallel training is
/// checked on machines without GPUs).
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
fn visible_devices() -> Vec<Device> {
    let n = std::env::var("CLAP_TOOLS_CPU_DEVICES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1usize);
    vec![Device::default(); n.clamp(1, 64)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn devices_are_counted_and_too_many_refused() {
        let all = devices(None).unwrap();
        assert!(!all.is_empty());
        assert_eq!(devices(Some(1)).unwrap(), all[..1].to_vec());
        let err = devices(Some(all.len() + 1)).unwrap_err();
        assert!(err.contains(&format!("trains on {}", all.len())), "{err}");
        assert!(check_transfers(&all).is_ok());
        assert!(check_transfers(&[all[0].clone(), all[0].clone()]).is_ok());
    }

    #[test]
    fn selected_backend_computes() {
        let device = default_device();
        let a = Tensor::<Selected, 1>::from_floats([1.0, 2.0, 3.0], &device);
        let sum: f32 = a.sum().into_scalar();
        assert_eq!(sum, 6.0);
    }
}
