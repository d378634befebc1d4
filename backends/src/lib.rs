//! The only module of clap-tools that names concrete burn backends.
//!
//! A build picks its backend by feature: `cuda` (burn-cuda), `wgpu` (burn-wgpu: Vulkan, Metal, DX12),
//! or, without either, the CPU backend burn-flex. The rest of the project is generic over
//! [`burn::tensor::backend::Backend`] and reaches a concrete type only through [`Selected`] and
//! [`AutodiffSelected`].

pub use burn;

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

/// The devices to train on, data parallel: the first `count`, or every device the backend sees
/// (CUDA: the GPUs that `CUDA_VISIBLE_DEVICES` leaves; wgpu: the discrete GPUs, else the default
/// adapter; the CPU backend: one).
pub fn devices(count: Option<usize>) -> Result<Vec<Device>, String> {
    let visible = visible_devices();
    match count {
        None => Ok(visible),
        Some(n) if n >= 1 && n <= visible.len() => Ok(visible[..n].to_vec()),
        Some(n) => Err(format!(
            "{n} devices asked for; the {} backend sees {} ({:?})",
            backend_name(),
            visible.len(),
            visible
        )),
    }
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
    use burn::tensor::backend::Backend;
    // Type 0: discrete GPUs.
    match Selected::device_count(0) {
        0 => vec![Device::default()],
        n => (0..n).map(burn::backend::wgpu::WgpuDevice::DiscreteGpu).collect(),
    }
}

#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
fn visible_devices() -> Vec<Device> {
    vec![Device::default()]
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
        assert!(err.contains(&format!("sees {}", all.len())), "{err}");
    }

    #[test]
    fn selected_backend_computes() {
        let device = default_device();
        let a = Tensor::<Selected, 1>::from_floats([1.0, 2.0, 3.0], &device);
        let sum: f32 = a.sum().into_scalar();
        assert_eq!(sum, 6.0);
    }
}
