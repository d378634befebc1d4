//! Helpers shared by the benchmark examples: command-line numbers and synthetic clips.

/// The number after `name` in `args`, or `default`.
pub fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.windows(2).find(|w| w[0] == name).map_or(default, |w| w[1].parse().expect("a number"))
}

/// A deterministic noise + tone clip of `n` samples (the content does not change the work).
pub fn clip(i: usize, n: usize) -> Vec<f32> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1);
    (0..n)
        .map(|k| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            0.05 * ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) + 0.3 * (k as f32 * 0.07).sin()
        })
        .collect()
}
