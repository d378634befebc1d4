//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2015): each 4×4 block of outputs comes from a 6×6
//! block of inputs with 36 multiplications per input channel instead of 144.
//!
//! The work, for a batch in NCHW:
//! 1. filters → `U[36][c_out][c_in]` (`G g Gᵀ`);
//! 2. inputs → `V[36][c_in][tiles]` (`Bᵀ d B`), one 6×6 patch per 4×4 output tile, images in groups
//!    that bound the memory (2.25× their size);
//! 3. 36 matrix products `M[ξν] = U[ξν] · V[ξν]` over blocks of tiles ([`crate::blas`], one thread
//!    each; blocks in parallel);
//! 4. `M` → outputs (`Aᵀ m A`), plus the bias.
//!
//! The transforms run on whole rows: a tile row's six input rows are split by column phase (`x mod
//! 4`), so every tile's six columns are contiguous runs and each transform is an element-wise
//! combination of slices that the compiler vectorises.
//!
//! Results do not depend on the batch or on the number of threads: every product of a layer has the
//! same shape whatever the batch (blocks of a fixed number of tiles, zero-padded at the end), each runs
//! on one thread, and a column's result depends on the product's shape, not on where it sits in it.

use rayon::prelude::*;

use crate::blas::{sgemm, Operand};

/// A 3×3 convolution with stride 1, padding 1, no dilation and one group, on NCHW `f32` data: the
/// output has the input's height and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv3x3 {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub height: usize,
    pub width: usize,
}

/// Tiles per matrix product hold about this many `V` values (`tiles × c_in`).
const BLOCK_VALUES: usize = 16 * 1024;
/// Output channels per matrix product, at most.
const BLOCK_CHANNELS: usize = 128;
/// Transformed inputs of one group of images, at most (floats), unless one image needs more.
const GROUP_VALUES: usize = 8 * 1024 * 1024;
/// Positions per im2col chunk hold about this many values (`positions × 9·c_in`).
const COLUMN_VALUES: usize = 8 * 1024 * 1024;
/// Positions (at most; fewer for small images) and output channels per im2col matrix product.
const IM2COL_COLUMNS: usize = 256;
const IM2COL_CHANNELS: usize = 64;
/// Filters transformed per step.
const FILTER_CHUNK: usize = 512;

impl Conv3x3 {
    fn tiles(&self) -> (usize, usize) {
        (self.height.div_ceil(4), self.width.div_ceil(4))
    }

    /// Whether Winograd beats im2col here: enough channels for the products to be worth their
    /// transforms, enough tiles per image to use each transformed filter more than a few times (its
    /// transform and its reading from memory cost as much as 36 of its multiplications), and tiles
    /// that the image fills (a width of 2 would waste half of every product). The choice depends on
    /// the layer, never on the batch.
    pub fn worthwhile(&self) -> bool {
        let (th, tw) = self.tiles();
        let tiles = th * tw;
        let covered = self.height * self.width;
        self.c_in >= 8 && self.c_out >= 8 && tiles >= 32 && covered * 10 >= tiles * 16 * 7
    }

    /// The convolution by whichever of the two kernels suits the layer: Winograd where
    /// [`worthwhile`](Self::worthwhile), im2col otherwise.
    ///
    /// # Shapes
    /// - x: [batch, c_in, height, width]; weight: [c_out, c_in, 3, 3]; bias: [c_out]
    /// - returns: [batch, c_out, height, width]
    pub fn run(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        if self.worthwhile() {
            self.forward(x, weight, bias)
        } else {
            self.forward_im2col(x, weight, bias)
        }
    }

    /// The convolution as one matrix product `[c_out × 9·c_in] · [9·c_in × positions]`, positions of
    /// the whole batch side by side (so a deep layer's filters are read once per chunk of positions,
    /// not once per image), in chunks of a fixed number of positions.
    ///
    /// # Shapes
    /// - x: [batch, c_in, height, width]; weight: [c_out, c_in, 3, 3]; bias: [c_out]
    /// - returns: [batch, c_out, height, width]
    pub fn forward_im2col(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        self.check(x.len(), weight.len(), bias.map(<[f32]>::len));
        let Conv3x3 { batch, c_in, c_out, height: h, width: w } = *self;
        let plane = h * w;
        let mut out = vec![0f32; batch * c_out * plane];
        if out.is_empty() {
            return out;
        }
        let rows = 9 * c_in; // (tap, channel)
        let mut wt = vec![0f32; c_out * rows];
        for (k, filters) in weight.chunks_exact(9 * c_in).enumerate() {
            for (c, taps) in filters.chunks_exact(9).enumerate() {
                for (tap, &v) in taps.iter().enumerate() {
                    wt[k * rows + tap * c_in + c] = v;
                }
            }
        }
        // Every product has `sub` columns and each image's positions start a product of their own
        // (zero-padded to whole products), so a position sits at the same column of a product of the
        // same shape whatever else is in the batch.
        let sub = IM2COL_COLUMNS.min(plane.div_ceil(8) * 8);
        let slot = plane.div_ceil(sub) * sub;
        let total = batch * slot;
        let chunk = ((COLUMN_VALUES / rows).clamp(256, 8192) / sub).max(1) * sub;
        let mut col = vec![0f32; rows * chunk];
        let out_ptr = SyncPtr(out.as_mut_ptr());
        for start in (0..total).step_by(chunk) {
            let len = chunk.min(total - start);
            col.par_chunks_mut(chunk).enumerate().for_each(|(r, dst)| {
                let (tap, c) = (r / c_in, r % c_in);
                im2col_row(x, *self, slot, tap, c, start, &mut dst[..len]);
                dst[len..].fill(0.0);
            });
            let sub_blocks = len / sub;
            let channel_blocks = c_out.div_ceil(IM2COL_CHANNELS);
            (0..sub_blocks * channel_blocks).into_par_iter().for_each_init(
                || vec![0f32; IM2COL_CHANNELS * sub],
                |y, item| {
                    let (sb, kb) = (item / channel_blocks, item % channel_blocks);
                    let (e0, k0) = (sb * sub, kb * IM2COL_CHANNELS);
                    let (cols, ks) = (sub.min(len - e0), IM2COL_CHANNELS.min(c_out - k0));
                    // SAFETY: y holds ks × sub values; wt rows k0..k0 + ks and col columns
                    // e0..e0 + sub (inside the chunk) are in bounds.
                    unsafe {
                        sgemm(
                            ks,
                            sub,
                            rows,
                            Operand::rows(wt.as_ptr().add(k0 * rows), rows),
                            Operand::rows(col.as_ptr().add(e0), chunk),
                            y.as_mut_ptr(),
                            sub,
                            false,
                        );
                    }
                    for k in 0..ks {
                        let b = bias.map_or(0.0, |b| b[k0 + k]);
                        let src = &y[k * sub..][..cols];
                        // Runs of positions within one image.
                        let mut e = 0;
                        while e < cols {
                            let p = start + e0 + e;
                            let (image, pos) = (p / slot, p % slot);
                            if pos >= plane {
                                e += (slot - pos).min(cols - e); // padding
                                continue;
                            }
                            let run = (plane - pos).min(cols - e);
                            let at = (image * c_out + k0 + k) * plane + pos;
                            // SAFETY: (image, channel k0 + k, positions pos..pos + run) belong to this
                            // item alone and lie inside `out`.
                            let dst = unsafe { std::slice::from_raw_parts_mut(out_ptr.at(at), run) };
                            for (d, &v) in dst.iter_mut().zip(&src[e..e + run]) {
                                *d = v + b;
                            }
                            e += run;
                        }
                    }
                },
            );
        }
        out
    }

    fn check(&self, x: usize, weight: usize, bias: Option<usize>) {
        let Conv3x3 { batch, c_in, c_out, height, width } = *self;
        let sizes = [batch, c_in, height, width].iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        assert_eq!(sizes, Some(x), "conv3x3: input of {x} values for {self:?}");
        assert_eq!(
            c_out.checked_mul(c_in).and_then(|v| v.checked_mul(9)),
            Some(weight),
            "conv3x3: weight of {weight} values for {self:?}"
        );
        if let Some(b) = bias {
            assert_eq!(b, c_out, "conv3x3: bias of {b} values for {c_out} output channels");
        }
    }

    /// The convolution (cross-correlation, as deep-learning frameworks define it).
    ///
    /// # Shapes
    /// - x: [batch, c_in, height, width]; weight: [c_out, c_in, 3, 3]; bias: [c_out]
    /// - returns: [batch, c_out, height, width]
    pub fn forward(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        self.check(x.len(), weight.len(), bias.map(<[f32]>::len));
        let Conv3x3 { batch, c_in, c_out, height, width } = *self;
        let mut out = vec![0f32; batch * c_out * height * width];
        if out.is_empty() || c_in == 0 {
            if let Some(b) = bias {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = b[(i / (height * width)) % c_out];
                }
            }
            return out;
        }
        let geo = Geometry::new(height, width);
        let u = transform_filters(weight, c_out, c_in);
        let block = (BLOCK_VALUES / c_in).clamp(16, 256) / 8 * 8;
        // Each image's tiles start a block of their own, so a tile sits at the same column of a
        // product of the same shape whatever else is in the batch.
        let slot = geo.tiles.div_ceil(block) * block;
        let per_image = 36 * c_in * slot;
        let images_per_group = (GROUP_VALUES / per_image).max(1);
        let out_ptr = SyncPtr(out.as_mut_ptr());
        let mut v = Vec::new();
        for first in (0..batch).step_by(images_per_group) {
            let images = images_per_group.min(batch - first);
            let padded = images * slot;
            // Every valid column is written; only the padding columns need zeros.
            v.resize(36 * c_in * padded, 0.0);
            v.par_chunks_mut(padded).for_each(|row| {
                for image in row.chunks_exact_mut(slot) {
                    image[geo.tiles..].fill(0.0);
                }
            });
            transform_inputs(
                &x[first * c_in * height * width..][..images * c_in * height * width],
                &geo,
                c_in,
                images,
                &mut v,
                padded,
                slot,
            );
            let group = Group { geo: &geo, c_in, c_out, first, padded, block, slot };
            multiply_and_untransform(&group, &u, &v, bias, out_ptr);
        }
        out
    }

    /// The gradient of [`forward`](Self::forward) with respect to its input: the same convolution of
    /// the output gradient with the filters flipped and their channels swapped.
    ///
    /// # Shapes
    /// - grad_out: [batch, c_out, height, width]; weight: [c_out, c_in, 3, 3]
    /// - returns: [batch, c_in, height, width]
    pub fn backward_input(&self, grad_out: &[f32], weight: &[f32]) -> Vec<f32> {
        self.transposed().run(grad_out, &flip_transpose(weight, self.c_out, self.c_in), None)
    }

    /// The gradient of [`forward`](Self::forward) with respect to its weights:
    /// `dW[k][c][i][j] = Σ_n Σ_yx dy[n][k][y][x] · x[n][c][y + i - 1][x + j - 1]`, one matrix product
    /// per tap `(i, j)` (Winograd does not pay here: the sum runs over every position).
    ///
    /// `x` and `dy` are laid out on the same padded grid (`x` shifted by one row and column, `dy`
    /// zero outside the image): the tap `(i, j)` is then `x` read at a fixed offset, so each product
    /// reads both operands in place, with no shifted copies.
    ///
    /// # Shapes
    /// - x: [batch, c_in, height, width]; grad_out: [batch, c_out, height, width]
    /// - returns: [c_out, c_in, 3, 3]
    pub fn backward_weight(&self, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
        let Conv3x3 { batch, c_in, c_out, height: h, width: w } = *self;
        self.check(x.len(), c_out * c_in * 9, None);
        assert_eq!(
            grad_out.len(),
            batch * c_out * h * w,
            "conv3x3: output gradient of {} values for {self:?}",
            grad_out.len()
        );
        let mut grad = vec![0f32; c_out * c_in * 9];
        if batch == 0 || h == 0 || w == 0 || grad.is_empty() {
            return grad;
        }
        // Each image as a padded plane of (h + 2) rows of w + 2 values; the batch side by side, so
        // one product per tap sums over every position of every image.
        let row = w + 2;
        let plane = (h + 2) * row;
        let run = batch * plane;
        let x_stride = run + 2 * row + 2; // the last tap reads 2·row + 2 values past the last plane
        let mut xp = vec![0f32; c_in * x_stride];
        xp.par_chunks_mut(x_stride).enumerate().for_each(|(c, dst)| {
            for n in 0..batch {
                let src = &x[(n * c_in + c) * h * w..][..h * w];
                for (y, line) in src.chunks_exact(w).enumerate() {
                    dst[n * plane + (y + 1) * row + 1..][..w].copy_from_slice(line);
                }
            }
        });
        let mut gp = vec![0f32; c_out * run];
        gp.par_chunks_mut(run).enumerate().for_each(|(k, dst)| {
            for n in 0..batch {
                let src = &grad_out[(n * c_out + k) * h * w..][..h * w];
                for (y, line) in src.chunks_exact(w).enumerate() {
                    dst[n * plane + y * row..][..w].copy_from_slice(line);
                }
            }
        });
        // Taps × blocks of output channels, enough of them to share out.
        let block = if c_out <= 64 { c_out.div_ceil(2) } else { 64 };
        let channel_blocks = c_out.div_ceil(block);
        let mut per_tap = vec![0f32; 9 * c_out * c_in]; // [tap][k][c]
        let dst = SyncPtr(per_tap.as_mut_ptr());
        (0..9 * channel_blocks).into_par_iter().for_each(|item| {
            let (tap, kb) = (item / channel_blocks, item % channel_blocks);
            let (k0, offset) = (kb * block, (tap / 3) * row + tap % 3);
            let ks = block.min(c_out - k0);
            // SAFETY: dst is this task's [tap][k0..k0 + ks][..c_in]; the dy rows [k0..k0 + ks][..run]
            // and the x columns [..c_in][offset..offset + run] are in bounds (offset + run <= x_stride).
            unsafe {
                sgemm(
                    ks,
                    c_in,
                    run,
                    Operand::rows(gp.as_ptr().add(k0 * run), run),
                    Operand::columns(xp.as_ptr().add(offset), x_stride),
                    dst.at((tap * c_out + k0) * c_in),
                    c_in,
                    false,
                );
            }
        });
        for (tap, plane) in per_tap.chunks_exact(c_out * c_in).enumerate() {
            for (kc, &g) in plane.iter().enumerate() {
                grad[kc * 9 + tap] = g;
            }
        }
        grad
    }

    /// The convolution that [`backward_input`](Self::backward_input) runs.
    pub fn transposed(&self) -> Conv3x3 {
        Conv3x3 { c_in: self.c_out, c_out: self.c_in, ..*self }
    }
}

/// Row `(tap, c)` of the im2col matrix for columns `start..start + dst.len()` of the batch (`slot`
/// columns per image, the positions then zeros): `x[n][c][y + i - 1][x + j - 1]`, zero outside the
/// image.
fn im2col_row(x: &[f32], conv: Conv3x3, slot: usize, tap: usize, c: usize, start: usize, dst: &mut [f32]) {
    let Conv3x3 { c_in, height: h, width: w, .. } = conv;
    let (di, dj) = (tap / 3, tap % 3);
    let plane = h * w;
    let mut e = 0;
    while e < dst.len() {
        let p = start + e;
        let (image, pos) = (p / slot, p % slot);
        if pos >= plane {
            let run = (slot - pos).min(dst.len() - e);
            dst[e..e + run].fill(0.0);
            e += run;
            continue;
        }
        let (y, x0) = (pos / w, pos % w);
        let run = (w - x0).min(dst.len() - e);
        let out = &mut dst[e..e + run];
        let yy = (y + di).wrapping_sub(1);
        if yy >= h {
            out.fill(0.0);
        } else {
            let line = &x[((image * c_in + c) * h + yy) * w..][..w];
            // Output column x0 + t reads input column x0 + t + dj - 1.
            for (t, o) in out.iter_mut().enumerate() {
                let xx = (x0 + t + dj).wrapping_sub(1);
                *o = if xx < w { line[xx] } else { 0.0 };
            }
        }
        e += run;
    }
}

/// `w'[c][k][i][j] = w[k][c][2 - i][2 - j]`.
fn flip_transpose(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let mut flipped = vec![0f32; weight.len()];
    for k in 0..c_out {
        for c in 0..c_in {
            let src = &weight[(k * c_in + c) * 9..][..9];
            let dst = &mut flipped[(c * c_out + k) * 9..][..9];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    flipped
}

/// Tiles of one image.
struct Geometry {
    height: usize,
    width: usize,
    /// Tile rows and columns.
    th: usize,
    tw: usize,
    tiles: usize,
    /// Entries per column phase of a padded row: `tw + 1` (padded columns `-1 ..= 4·tw`).
    phase: usize,
}

impl Geometry {
    fn new(height: usize, width: usize) -> Self {
        let (th, tw) = (height.div_ceil(4), width.div_ceil(4));
        Geometry { height, width, th, tw, tiles: th * tw, phase: tw + 1 }
    }
}

/// One group of images in flight.
struct Group<'a> {
    geo: &'a Geometry,
    c_in: usize,
    c_out: usize,
    /// Its first image in the batch.
    first: usize,
    /// `V`'s row length: a slot per image.
    padded: usize,
    block: usize,
    /// Columns per image: its tiles rounded up to whole blocks.
    slot: usize,
}

#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
// SAFETY: every task writes a region of its own (see the callers).
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    /// The address `i` values on (a method, so closures capture the whole `Sync` wrapper).
    fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// Runs a loop body compiled twice, for AVX2 + FMA and for the baseline CPU, and picks by
/// [`crate::uses_avx2`]. The arithmetic is the same in both (no fused multiply-adds are formed), so
/// the results are too.
macro_rules! dispatch {
    ($name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) {
            #[allow(clippy::too_many_arguments)]
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[allow(clippy::too_many_arguments)]
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if crate::uses_avx2() {
                // SAFETY: the CPU has AVX2 and FMA (checked at run time).
                return unsafe { avx2($($arg),*) };
            }
            body($($arg),*)
        }
    };
}

/// `Bᵀ` applied across six slices: `o[ξ] = Σ_i Bᵀ[ξ][i] · a[i]`, element-wise.
#[inline(always)]
fn bt6(len: usize, a: [&[f32]; 6], o: [&mut [f32]; 6]) {
    let [a0, a1, a2, a3, a4, a5] = a.map(|s| &s[..len]);
    let [o0, o1, o2, o3, o4, o5] = o.map(|s| &mut s[..len]);
    for e in 0..len {
        let (x0, x1, x2, x3, x4, x5) = (a0[e], a1[e], a2[e], a3[e], a4[e], a5[e]);
        o0[e] = 4.0 * x0 - 5.0 * x2 + x4;
        o1[e] = -4.0 * (x1 + x2) + (x3 + x4);
        o2[e] = 4.0 * (x1 - x2) + (x4 - x3);
        o3[e] = 2.0 * (x3 - x1) + (x4 - x2);
        o4[e] = 2.0 * (x1 - x3) + (x4 - x2);
        o5[e] = 4.0 * x1 - 5.0 * x3 + x5;
    }
}

/// `Aᵀ` applied across six slices: `o[α] = Σ_ξ Aᵀ[α][ξ] · a[ξ]`, element-wise.
#[inline(always)]
fn at6(len: usize, a: [&[f32]; 6], o: [&mut [f32]; 4]) {
    let [a0, a1, a2, a3, a4, a5] = a.map(|s| &s[..len]);
    let [o0, o1, o2, o3] = o.map(|s| &mut s[..len]);
    for e in 0..len {
        let (s12, d12) = (a1[e] + a2[e], a1[e] - a2[e]);
        let (s34, d34) = (a3[e] + a4[e], a3[e] - a4[e]);
        o0[e] = a0[e] + s12 + s34;
        o1[e] = d12 + 2.0 * d34;
        o2[e] = s12 + 4.0 * s34;
        o3[e] = d12 + 8.0 * d34 + a5[e];
    }
}

/// `G` applied across three slices: `o[ξ] = Σ_i G[ξ][i] · a[i]`, element-wise.
#[inline(always)]
fn g3(len: usize, a: [&[f32]; 3], o: [&mut [f32]; 6]) {
    let [a0, a1, a2] = a.map(|s| &s[..len]);
    let [o0, o1, o2, o3, o4, o5] = o.map(|s| &mut s[..len]);
    for e in 0..len {
        let (x0, x1, x2) = (a0[e], a1[e], a2[e]);
        let (even, odd) = (x0 + x2, x1);
        o0[e] = 0.25 * x0;
        o1[e] = (even + odd) * (-1.0 / 6.0);
        o2[e] = (even - odd) * (-1.0 / 6.0);
        let (even, odd) = (x0 * (1.0 / 24.0) + x2 * (1.0 / 6.0), x1 * (1.0 / 12.0));
        o3[e] = even + odd;
        o4[e] = even - odd;
        o5[e] = x2;
    }
}

/// `N` consecutive slices of `stride` values each, mutably.
fn split_mut<const N: usize>(buf: &mut [f32], stride: usize) -> [&mut [f32]; N] {
    let mut rest = buf;
    std::array::from_fn(|_| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(stride);
        rest = tail;
        head
    })
}

/// `N` slices of `buf` at `offset + i · stride`, `len` values each.
fn split_ref<const N: usize>(buf: &[f32], offset: usize, stride: usize, len: usize) -> [&[f32]; N] {
    std::array::from_fn(|i| &buf[offset + i * stride..][..len])
}

/// `U[ξν][k][c] = (G g[k][c] Gᵀ)[ξ][ν]`.
fn transform_filters(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let filters = c_out * c_in;
    let mut u = vec![0f32; 36 * filters];
    let u_ptr = SyncPtr(u.as_mut_ptr());
    (0..filters.div_ceil(FILTER_CHUNK)).into_par_iter().for_each(|chunk| {
        let start = chunk * FILTER_CHUNK;
        let len = FILTER_CHUNK.min(filters - start);
        let mut g = vec![0f32; 9 * len]; // [tap][filter]
        for (f, taps) in weight[start * 9..][..len * 9].chunks_exact(9).enumerate() {
            for (t, &w) in taps.iter().enumerate() {
                g[t * len + f] = w;
            }
        }
        let mut t1 = vec![0f32; 18 * len]; // [ξ][j][filter]
        let mut out = vec![0f32; 36 * len]; // [ξ][ν][filter]
        filter_chunk(len, &g, &mut t1, &mut out);
        for (i, row) in out.chunks_exact(len).enumerate() {
            // SAFETY: chunk `chunk` writes U[i][start..start + len] only, inside u.
            let dst = unsafe { std::slice::from_raw_parts_mut(u_ptr.at(i * filters + start), len) };
            dst.copy_from_slice(row);
        }
    });
    u
}

dispatch!(filter_chunk(len: usize, g: &[f32], t1: &mut [f32], out: &mut [f32]) {
    // Along the rows of each column j: t1[ξ][j] = Σ_i G[ξ][i] g[i][j].
    for j in 0..3 {
        let rows = split_ref::<3>(g, j * len, 3 * len, len);
        let mut dst: Vec<&mut [f32]> = t1.chunks_exact_mut(len).skip(j).step_by(3).collect();
        let dst: [&mut [f32]; 6] = std::array::from_fn(|i| std::mem::take(&mut dst[i]));
        g3(len, rows, dst);
    }
    // Along the columns of each row ξ: U[ξ][ν] = Σ_j t1[ξ][j] G[ν][j].
    for (xi, dst) in out.chunks_exact_mut(6 * len).enumerate() {
        g3(len, split_ref::<3>(t1, xi * 3 * len, len, len), split_mut::<6>(dst, len));
    }
});

/// `V[ξν][c][t] = (Bᵀ d B)[ξ][ν]` for every tile `t` of the group's images.
fn transform_inputs(x: &[f32], geo: &Geometry, c_in: usize, images: usize, v: &mut [f32], padded: usize, slot: usize) {
    let v_ptr = SyncPtr(v.as_mut_ptr());
    let plane = geo.height * geo.width;
    (0..images * c_in).into_par_iter().for_each_init(
        || (vec![0f32; 6 * 4 * geo.phase], vec![0f32; 6 * 4 * geo.phase], vec![0f32; 4 * geo.phase]),
        |(rows, z, line), pair| {
            let (image, c) = (pair / c_in, pair % c_in);
            let src = &x[pair * plane..][..plane];
            for ty in 0..geo.th {
                // SAFETY: (image, c, ty) owns V[*][c][image·tiles + ty·tw ..][..tw]; the ranges of
                // different tasks and tile rows are disjoint.
                let dst: [&mut [f32]; 36] = std::array::from_fn(|xn| unsafe {
                    let at = (xn * c_in + c) * padded + image * slot + ty * geo.tw;
                    std::slice::from_raw_parts_mut(v_ptr.at(at), geo.tw)
                });
                input_tile_row(geo, src, ty, rows, z, line, dst);
            }
        },
    );
}

dispatch!(input_tile_row(geo: &Geometry, src: &[f32], ty: usize, rows: &mut [f32], z: &mut [f32], line: &mut [f32], dst: [&mut [f32]; 36]) {
    let q = geo.phase;
    let run = 4 * q;
    // Six input rows, padded, each split by column phase: rows[i][r·q + p] = x[4ty - 1 + i][4p + r - 1]
    // (4q ≥ width + 2: the padded row fits).
    for (i, row) in rows.chunks_exact_mut(run).enumerate() {
        let y = (4 * ty + i).wrapping_sub(1);
        if y >= geo.height {
            row.fill(0.0);
            continue;
        }
        // The row with its padding (column -1 at 0), then split by phase.
        let padded = &mut line[..run];
        padded[0] = 0.0;
        padded[1..=geo.width].copy_from_slice(&src[y * geo.width..][..geo.width]);
        padded[geo.width + 1..].fill(0.0);
        let (r0, rest) = row.split_at_mut(q);
        let (r1, rest) = rest.split_at_mut(q);
        let (r2, r3) = rest.split_at_mut(q);
        for (p, four) in padded.chunks_exact(4).enumerate() {
            r0[p] = four[0];
            r1[p] = four[1];
            r2[p] = four[2];
            r3[p] = four[3];
        }
    }
    // Down the rows: z[ξ] = Σ_i Bᵀ[ξ][i] rows[i], at every padded column.
    bt6(run, split_ref::<6>(rows, 0, run, run), split_mut::<6>(z, run));
    // Across each tile's six columns (4tx + j, j < 6: phases 0..3 at p = tx, then 0, 1 at p = tx + 1).
    let tw = geo.tw;
    let mut dst = dst.into_iter();
    for xi in 0..6 {
        let zr = &z[xi * run..][..run];
        let cols = [&zr[..tw], &zr[q..q + tw], &zr[2 * q..2 * q + tw], &zr[3 * q..3 * q + tw], &zr[1..1 + tw], &zr[q + 1..q + 1 + tw]];
        let out: [&mut [f32]; 6] = std::array::from_fn(|_| dst.next().expect("36 rows"));
        bt6(tw, cols, out);
    }
});

/// Steps 3 and 4 for one group: products over blocks of tiles and of output channels, in parallel;
/// each block writes its own outputs.
fn multiply_and_untransform(group: &Group, u: &[f32], v: &[f32], bias: Option<&[f32]>, out: SyncPtr) {
    let Group { c_in, c_out, block, .. } = *group;
    let blocks = group.padded / block;
    let channel_blocks = c_out.div_ceil(BLOCK_CHANNELS);
    (0..blocks * channel_blocks).into_par_iter().for_each_init(
        || (vec![0f32; 36 * BLOCK_CHANNELS.min(c_out) * block], vec![0f32; 40 * block]),
        |(m, scratch), item| {
            let (b, kb) = (item / channel_blocks, item % channel_blocks);
            let k0 = kb * BLOCK_CHANNELS;
            let ks = BLOCK_CHANNELS.min(c_out - k0);
            let t0 = b * block;
            for xn in 0..36 {
                // SAFETY: the operands are U[xn][k0..k0 + ks][..c_in], V[xn][..c_in][t0..t0 + block] and
                // m[xn][..ks][..block], all in bounds.
                unsafe {
                    sgemm(
                        ks,
                        block,
                        c_in,
                        Operand::rows(u.as_ptr().add((xn * c_out + k0) * c_in), c_in),
                        Operand::rows(v.as_ptr().add(xn * c_in * group.padded + t0), group.padded),
                        m.as_mut_ptr().add(xn * ks * block),
                        block,
                        false,
                    );
                }
            }
            let valid = block;
            for k in 0..ks {
                let b = bias.map_or(0.0, |b| b[k0 + k]);
                output_tiles(group, &m[..36 * ks * block], k, ks, t0, valid, k0 + k, b, scratch, out);
            }
        },
    );
}

dispatch!(output_tiles(group: &Group, m: &[f32], k: usize, ks: usize, t0: usize, valid: usize, channel: usize, bias: f32, scratch: &mut [f32], out: SyncPtr) {
    let block = group.block;
    let (q, y) = scratch.split_at_mut(24 * block);
    // Across ν for each ξ: q[ξ][β] = Σ_ν Aᵀ[β][ν] m[ξ][ν].
    for (xi, qx) in q.chunks_exact_mut(4 * block).enumerate() {
        let rows = split_ref::<6>(m, (xi * 6 * ks + k) * block, ks * block, valid);
        at6(valid, rows, split_mut::<4>(qx, block));
    }
    // Down ξ for each β: y[α][β] = Σ_ξ Aᵀ[α][ξ] q[ξ][β].
    for beta in 0..4 {
        let rows = split_ref::<6>(q, beta * block, 4 * block, valid);
        let ys = &mut y[beta * 4 * block..][..4 * block];
        at6(valid, rows, split_mut::<4>(ys, block));
    }
    let geo = group.geo;
    let (h, w) = (geo.height, geo.width);
    for e in 0..valid {
        let t = t0 + e;
        let (image, tile) = (group.first + t / group.slot, t % group.slot);
        if tile >= geo.tiles {
            continue; // padding
        }
        let (ty, tx) = (tile / geo.tw, tile % geo.tw);
        let plane = (image * group.c_out + channel) * h * w;
        for alpha in 0..4.min(h - 4 * ty) {
            let row = plane + (4 * ty + alpha) * w + 4 * tx;
            for beta in 0..4.min(w - 4 * tx) {
                // SAFETY: (image, channel, tile) is this block's own output, inside `out`.
                unsafe { *out.at(row + beta) = y[(beta * 4 + alpha) * block + e] + bias };
            }
        }
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible stream of values in [-1, 1).
    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The definition, in f64.
    fn direct(conv: &Conv3x3, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
        let Conv3x3 { batch, c_in, c_out, height: h, width: wd } = *conv;
        let mut out = vec![0f64; batch * c_out * h * wd];
        for n in 0..batch {
            for k in 0..c_out {
                for y in 0..h {
                    for xx in 0..wd {
                        let mut acc = bias.map_or(0.0, |b| b[k] as f64);
                        for c in 0..c_in {
                            for i in 0..3 {
                                for j in 0..3 {
                                    let (yy, xc) = ((y + i).wrapping_sub(1), (xx + j).wrapping_sub(1));
                                    if yy < h && xc < wd {
                                        acc += x[((n * c_in + c) * h + yy) * wd + xc] as f64
                                            * w[((k * c_in + c) * 3 + i) * 3 + j] as f64;
                                    }
                                }
                            }
                        }
                        out[((n * c_out + k) * h + y) * wd + xx] = acc;
                    }
                }
            }
        }
        out
    }

    fn max_error(ours: &[f32], exact: &[f64]) -> f64 {
        assert_eq!(ours.len(), exact.len());
        ours.iter().zip(exact).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn matches_the_definition_on_odd_shapes() {
        // Heights and widths that are and are not multiples of 4, one row, one column; bias or not.
        for (i, &(batch, c_in, c_out, height, width)) in [
            (1, 1, 1, 1, 1),
            (2, 3, 5, 4, 4),
            (1, 8, 9, 7, 5),
            (3, 16, 8, 13, 6),
            (1, 4, 3, 1, 9),
            (2, 5, 130, 9, 3),
            (1, 300, 2, 6, 10),
        ]
        .iter()
        .enumerate()
        {
            let conv = Conv3x3 { batch, c_in, c_out, height, width };
            let x = values(i as u64, batch * c_in * height * width);
            let w = values(100 + i as u64, c_out * c_in * 9);
            let b = values(200 + i as u64, c_out);
            let bias = (i % 2 == 0).then_some(&b[..]);
            let exact = direct(&conv, &x, &w, bias);
            let err = max_error(&conv.forward(&x, &w, bias), &exact);
            // F(4×4, 3×3) in f32 with inputs and weights in [-1, 1]: a few ulps of the sum's size.
            let tol = 2e-6 * (c_in as f64 * 9.0).sqrt() * 8.0;
            assert!(err < tol, "{conv:?}: max error {err} > {tol}");
            let err = max_error(&conv.forward_im2col(&x, &w, bias), &exact);
            assert!(err < tol / 4.0, "{conv:?} by im2col: max error {err}");
        }
    }

    #[test]
    fn the_input_gradient_is_the_adjoint() {
        // <conv(x), g> = <x, backward_input(g)> for any x, g.
        let conv = Conv3x3 { batch: 2, c_in: 6, c_out: 10, height: 11, width: 7 };
        let x = values(1, 2 * 6 * 11 * 7);
        let w = values(2, 10 * 6 * 9);
        let g = values(3, 2 * 10 * 11 * 7);
        let y = conv.forward(&x, &w, None);
        let dx = conv.backward_input(&g, &w);
        let lhs: f64 = y.iter().zip(&g).map(|(&a, &b)| a as f64 * b as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(&a, &b)| a as f64 * b as f64).sum();
        assert!((lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0), "{lhs} against {rhs}");
    }

    #[test]
    fn the_weight_gradient_matches_the_definition() {
        for (i, &(batch, c_in, c_out, height, width)) in
            [(1, 1, 1, 1, 1), (2, 3, 70, 5, 4), (3, 9, 2, 7, 1), (1, 2, 3, 1, 6)].iter().enumerate()
        {
            let conv = Conv3x3 { batch, c_in, c_out, height, width };
            let x = values(10 + i as u64, batch * c_in * height * width);
            let g = values(20 + i as u64, batch * c_out * height * width);
            let ours = conv.backward_weight(&x, &g);
            for k in 0..c_out {
                for c in 0..c_in {
                    for tap in 0..9 {
                        let (di, dj) = (tap / 3, tap % 3);
                        let mut exact = 0f64;
                        for n in 0..batch {
                            for y in 0..height {
                                for xx in 0..width {
                                    let (yy, xc) = ((y + di).wrapping_sub(1), (xx + dj).wrapping_sub(1));
                                    if yy < height && xc < width {
                                        exact += g[((n * c_out + k) * height + y) * width + xx] as f64
                                            * x[((n * c_in + c) * height + yy) * width + xc] as f64;
                                    }
                                }
                            }
                        }
                        let got = ours[(k * c_in + c) * 9 + tap] as f64;
                        assert!(
                            (got - exact).abs() < 1e-5 * (batch * height * width) as f64,
                            "{conv:?} k{k} c{c} tap{tap}: {got} against {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_image_gives_the_same_bits_alone_and_in_a_batch() {
        // Several blocks of tiles (7 × 40 > 256) and of channels, and several images per group.
        let one = Conv3x3 { batch: 1, c_in: 24, c_out: 140, height: 37, width: 16 };
        let three = Conv3x3 { batch: 7, ..one };
        let x = values(7, 7 * 24 * 37 * 16);
        let w = values(8, 140 * 24 * 9);
        let all = three.forward(&x, &w, None);
        let plane = 140 * 37 * 16;
        for i in 0..7 {
            let alone = one.forward(&x[i * 24 * 37 * 16..][..24 * 37 * 16], &w, None);
            assert!(alone == all[i * plane..][..plane], "image {i} differs alone and in the batch");
        }
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert!(one_thread.install(|| three.forward(&x, &w, None)) == all, "one thread and several differ");

        // The same for im2col, over more positions than one chunk holds (2 × 1024 × 2 > 8M / (9 × 300)).
        let one = Conv3x3 { batch: 1, c_in: 300, c_out: 70, height: 1024, width: 2 };
        let two = Conv3x3 { batch: 2, ..one };
        let x = values(9, 2 * 300 * 1024 * 2);
        let w = values(10, 70 * 300 * 9);
        let all = two.forward_im2col(&x, &w, None);
        let plane = 70 * 1024 * 2;
        for i in 0..2 {
            let alone = one.forward_im2col(&x[i * 300 * 2048..][..300 * 2048], &w, None);
            let d = alone.iter().zip(&all[i * plane..][..plane]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(alone == all[i * plane..][..plane], "image {i} differs alone and in the batch (im2col) by {d}");
        }
        assert!(
            one_thread.install(|| two.forward_im2col(&x, &w, None)) == all,
            "im2col: one thread and several differ"
        );
    }

    #[test]
    fn layers_that_gain_are_told_apart_from_those_that_do_not() {
        let layer = |c_in, height, width| Conv3x3 { batch: 1, c_in, c_out: 64, height, width };
        assert!(layer(64, 1001, 64).worthwhile());
        assert!(layer(512, 125, 8).worthwhile());
        assert!(!layer(1024, 62, 4).worthwhile(), "16 tiles per image");
        assert!(!layer(1, 1001, 64).worthwhile(), "one input channel");
        assert!(!layer(1024, 31, 2).worthwhile(), "a width of 2 fills half of each tile");
        assert!(!layer(64, 3, 3).worthwhile(), "one tile");
    }
}
