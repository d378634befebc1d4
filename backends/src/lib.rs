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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn selected_backend_computes() {
        let device = default_device();
        let a = Tensor::<Selected, 1>::from_floats([1.0, 2.0, 3.0], &device);
        let sum: f32 = a.sum().into_scalar();
        assert_eq!(sum, 6.0);
    }
}
