//! Single-precision matrix products for the kernels: OpenBLAS's `cblas_sgemm` when the system has
//! the library (Debian: `libopenblas0-pthread`, loaded at run time, so building needs nothing), else
//! the `gemm` crate. On a 2-core AVX2 machine OpenBLAS runs a 2048³ product at about 70 GFLOP/s on one
//! thread, three times the `gemm` crate (BENCHMARKS.md).
//!
//! Each call runs on the calling thread alone (the kernels share out their products themselves), so
//! a product's result depends on its shape, not on the thread count. `CLAP_TOOLS_KERNELS=portable`
//! (or `stock`) uses the `gemm` crate only; `CLAP_TOOLS_BLAS=none` too, and `CLAP_TOOLS_BLAS=PATH`
//! names another library with the same functions.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

/// The environment variable that names the BLAS library (`none`: the `gemm` crate).
pub const BLAS_VAR: &str = "CLAP_TOOLS_BLAS";
const DEFAULT_LIBRARY: &str = "libopenblas.so.0";

type Sgemm = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);
type SetThreads = unsafe extern "C" fn(c_int);

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

struct Blas {
    sgemm: Sgemm,
    name: String,
}

extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}
const RTLD_NOW: c_int = 2;

fn load() -> Option<Blas> {
    if crate::mode() != crate::Mode::Auto || !cfg!(target_os = "linux") {
        return None;
    }
    let name = std::env::var(BLAS_VAR).unwrap_or_else(|_| DEFAULT_LIBRARY.into());
    if name == "none" {
        return None;
    }
    let c_name = CString::new(name.clone()).ok()?;
    // SAFETY: dlopen/dlsym with valid C strings; the handle is never closed, so the function
    // pointers stay valid for the process; their C signatures are cblas_sgemm's and
    // openblas_set_num_threads'.
    unsafe {
        let handle = dlopen(c_name.as_ptr(), RTLD_NOW);
        if handle.is_null() {
            return None;
        }
        let sgemm = dlsym(handle, c"cblas_sgemm".as_ptr());
        if sgemm.is_null() {
            return None;
        }
        let threads = dlsym(handle, c"openblas_set_num_threads".as_ptr());
        if !threads.is_null() {
            std::mem::transmute::<*mut c_void, SetThreads>(threads)(1);
        }
        Some(Blas { sgemm: std::mem::transmute::<*mut c_void, Sgemm>(sgemm), name })
    }
}

fn blas() -> Option<&'static Blas> {
    static BLAS: OnceLock<Option<Blas>> = OnceLock::new();
    BLAS.get_or_init(load).as_ref()
}

/// The library the products run on: its file name, or `gemm` (the crate).
pub fn library() -> String {
    blas().map_or_else(|| "gemm".into(), |b| b.name.clone())
}

/// One operand of a product: `rows × cols` at `ptr`, row `i` column `j` at `ptr + i·ld` (or, when
/// `transposed`, at `ptr + j·ld`).
#[derive(Clone, Copy)]
pub struct Operand {
    pub ptr: *const f32,
    pub ld: usize,
    pub transposed: bool,
}

impl Operand {
    pub fn rows(ptr: *const f32, ld: usize) -> Self {
        Operand { ptr, ld, transposed: false }
    }

    pub fn columns(ptr: *const f32, ld: usize) -> Self {
        Operand { ptr, ld, transposed: true }
    }

    /// (row stride, column stride) as the `gemm` crate takes them.
    fn strides(self) -> (isize, isize) {
        if self.transposed {
            (1, self.ld as isize)
        } else {
            (self.ld as isize, 1)
        }
    }
}

/// `dst[m × n] (row stride ld_dst) = (accumulate ? dst : 0) + a[m × k] · b[k × n]`, on this thread.
///
/// # Safety
/// Every element the operands and `dst` describe must be readable (writable for `dst`), and `dst`
/// must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Operand,
    b: Operand,
    dst: *mut f32,
    ld_dst: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if let Some(blas) = blas() {
        let fits = [m, n, k, a.ld, b.ld, ld_dst].iter().all(|&v| v <= c_int::MAX as usize);
        if fits {
            let trans = |o: Operand| if o.transposed { TRANS } else { NO_TRANS };
            // SAFETY: the caller's contract; sizes fit the C int the library takes.
            unsafe {
                (blas.sgemm)(
                    ROW_MAJOR,
                    trans(a),
                    trans(b),
                    m as c_int,
                    n as c_int,
                    k as c_int,
                    1.0,
                    a.ptr,
                    a.ld.max(1) as c_int,
                    b.ptr,
                    b.ld.max(1) as c_int,
                    if accumulate { 1.0 } else { 0.0 },
                    dst,
                    ld_dst.max(1) as c_int,
                )
            };
            return;
        }
    }
    let ((a_rs, a_cs), (b_rs, b_cs)) = (a.strides(), b.strides());
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ld_dst as isize,
            accumulate,
            a.ptr,
            a_cs,
            a_rs,
            b.ptr,
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_the_definition_with_either_layout() {
        let (m, n, k) = (5, 7, 11);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5 - 1.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect(); // bᵀ, row-major
        let exact: Vec<f32> =
            (0..m * n).map(|i| (0..k).map(|p| a[(i / n) * k + p] * b[p * n + i % n]).sum::<f32>()).collect();
        let mut d = vec![1f32; m * n];
        // SAFETY: sizes as described.
        unsafe { sgemm(m, n, k, Operand::rows(a.as_ptr(), k), Operand::rows(b.as_ptr(), n), d.as_mut_ptr(), n, false) };
        assert_eq!(d, exact, "{}", library());
        unsafe {
            sgemm(m, n, k, Operand::rows(a.as_ptr(), k), Operand::columns(bt.as_ptr(), k), d.as_mut_ptr(), n, true)
        };
        let twice: Vec<f32> = exact.iter().map(|v| 2.0 * v).collect();
        assert_eq!(d, twice, "{}", library());
    }
}
