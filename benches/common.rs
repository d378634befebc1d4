//! Helpers shared by the benchmark examples: command-line numbers, the audio encoders by name and
//! synthetic clips.

use clap_tools::model::registry::AudioEncoderConfig;

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

/// The full-size audio encoder a benchmark names: cnn14, wavegram_logmel_cnn14, resnet38 or ast.
pub fn full_size_encoder(name: &str) -> AudioEncoderConfig {
    use clap_tools::model::{ast, cnn14, resnet38, wavegram_logmel_cnn14};
    match name {
        "cnn14" => AudioEncoderConfig::Cnn14(cnn14::Cnn14Config::default()),
        "wavegram_logmel_cnn14" => {
            AudioEncoderConfig::WavegramLogmelCnn14(wavegram_logmel_cnn14::WavegramLogmelCnn14Config::default())
        }
        "resnet38" => AudioEncoderConfig::ResNet38(resnet38::ResNet38Config::default()),
        "ast" => AudioEncoderConfig::Ast(ast::AstConfig::default()),
        other => panic!("{other} is not an audio encoder: cnn14, wavegram_logmel_cnn14, resnet38 or ast"),
    }
}
