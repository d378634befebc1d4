//! The deterministic test weights and clips of tests/fixtures/model/audio.py, computed the same way
//! here so the full-size CNN14 weights need not be committed: SplitMix64 streams seeded with the
//! FNV-1a hash of a name, mapped to float32-exact uniforms in [-1, 1).

fn fnv1a64(text: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// `n` uniforms in [-1, 1) from the stream named `name` (f64, exactly representable in f32).
pub fn uniform(name: &str, n: usize) -> Vec<f64> {
    let mut state = fnv1a64(name);
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// The value of a CNN14 tensor by its PANNs key (audio.py's `panns_value`).
pub fn panns_value(key: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let u = uniform(key, n);
    let bn0 = key.starts_with("bn0.");
    let map = |u: f64| -> f64 {
        if key.ends_with("running_var") {
            (if bn0 { 400.0 } else { 1.0 }) + 0.5 * (u + 1.0)
        } else if key.ends_with("running_mean") {
            if bn0 {
                -40.0 + 10.0 * u
            } else {
                0.1 * u
            }
        } else if key.contains(".bn") || bn0 {
            if key.ends_with("weight") {
                1.0 + 0.2 * u
            } else {
                0.1 * u
            }
        } else if key.ends_with("bias") {
            0.01 * u
        } else {
            (6.0 / (n / shape[0]) as f64).sqrt() * u
        }
    };
    u.into_iter().map(|u| map(u) as f32).collect()
}

/// A test clip: uniform noise from the named stream plus a tone (audio.py's `prng_wave`).
pub fn wave(name: &str, seconds: f64, sr: u32, freq: f64) -> Vec<f32> {
    let n = (seconds * sr as f64) as usize;
    uniform(name, n)
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            let t = i as f64 / sr as f64;
            (0.05 * u + 0.3 * (2.0 * std::f64::consts::PI * freq * t).sin()) as f32
        })
        .collect()
}
