//! CPU kernels for clap-tools, over plain `f32` slices.
//!
//! burn-flex, the CPU backend, computes every convolution as im2col + a matrix product. The audio
//! encoders (CNN14, ResNet38, Wavegram-Logmel-CNN14) are almost all 3×3 stride-1 convolutions,
//! where Winograd's F(4×4, 3×3) needs 4× fewer multiplications ([`winograd`]). The copy of
//! burn-flex in `vendor/` calls these kernels from its `conv2d` and `conv2d_x_backward` ops, so every
//! model, and burn's autodiff, gets them without a change of code.
//!
//! `CLAP_TOOLS_KERNELS` chooses, once per process:
//! - `auto` (default): these kernels, with their loops compiled for AVX2 where the CPU has it and
//!   their matrix products on OpenBLAS where the system has it ([`blas`]);
//! - `portable`: these kernels, with the loops compiled for the baseline CPU only and the products
//!   on the `gemm` crate (pure Rust);
//! - `stock`: burn-flex's own im2col convolution everywhere.

pub mod blas;
pub mod winograd;

use std::sync::OnceLock;

/// Which kernels this process uses (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// These kernels; SIMD code chosen by the CPU's features.
    Auto,
    /// These kernels; portable code only.
    Portable,
    /// burn-flex's own kernels.
    Stock,
}

/// The environment variable that chooses the [`Mode`].
pub const MODE_VAR: &str = "CLAP_TOOLS_KERNELS";

impl Mode {
    /// Parse a value of [`MODE_VAR`]; `None` for anything else.
    pub fn parse(value: &str) -> Option<Mode> {
        match value.trim() {
            "" | "auto" => Some(Mode::Auto),
            "portable" => Some(Mode::Portable),
            "stock" => Some(Mode::Stock),
            _ => None,
        }
    }
}

/// [`MODE_VAR`]'s mode, or why its value is not one: for a program to check before it starts work
/// (then [`mode`] cannot fail).
pub fn mode_from_env() -> Result<Mode, String> {
    match std::env::var(MODE_VAR) {
        Err(_) => Ok(Mode::Auto),
        Ok(v) => Mode::parse(&v).ok_or_else(|| format!("{MODE_VAR}={v:?}: expected auto, portable or stock")),
    }
}

/// The process's mode, read from [`MODE_VAR`] on first use. A value it does not know stops the
/// process (programs check [`mode_from_env`] first): kernels silently other than the ones asked for
/// would make a parity run meaningless.
pub fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var(MODE_VAR) {
        Err(_) => Mode::Auto,
        Ok(v) => Mode::parse(&v).unwrap_or_else(|| panic!("{MODE_VAR}={v:?}: expected auto, portable or stock")),
    })
}

/// Whether the AVX2 versions of the loops run (x86-64 with AVX2, mode `auto`).
pub fn uses_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: OnceLock<bool> = OnceLock::new();
        mode() == Mode::Auto && *AVX2.get_or_init(|| std::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_unknown_values_are_refused() {
        assert_eq!(Mode::parse("auto"), Some(Mode::Auto));
        assert_eq!(Mode::parse(""), Some(Mode::Auto));
        assert_eq!(Mode::parse(" portable\n"), Some(Mode::Portable));
        assert_eq!(Mode::parse("stock"), Some(Mode::Stock));
        assert_eq!(Mode::parse("fast"), None);
    }
}
