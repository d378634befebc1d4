//! The demo's sounds: tones, sweeps, coloured noise, clicks and sequences of two, each with templated
//! captions that describe it in varied words.

use std::f32::consts::PI;

use crate::split::SplitMix64;

/// A pitch class for tones and sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pitch {
    Low,
    Mid,
    High,
}

impl Pitch {
    fn hz(self) -> f32 {
        match self {
            Pitch::Low => 220.0,
            Pitch::Mid => 660.0,
            Pitch::High => 1980.0,
        }
    }
    fn words(self) -> &'static [&'static str] {
        match self {
            Pitch::Low => &["low", "deep", "low-pitched"],
            Pitch::Mid => &["medium", "mid-pitched", "moderate"],
            Pitch::High => &["high", "shrill", "high-pitched"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    White,
    Pink,
    Brown,
}

/// The kinds of sound the demo synthesises.
#[derive(Debug, Clone, PartialEq)]
pub enum SoundKind {
    Tone(Pitch),
    SweepUp,
    SweepDown,
    Noise(Noise),
    /// Short clicks at a rate: slow (2/s) or fast (8/s).
    Pulses {
        fast: bool,
    },
    /// One kind, then another.
    Sequence(Box<SoundKind>, Box<SoundKind>),
}

impl SoundKind {
    /// The simple kinds (sequences are made of two of these).
    pub fn simple() -> Vec<SoundKind> {
        vec![
            SoundKind::Tone(Pitch::Low),
            SoundKind::Tone(Pitch::Mid),
            SoundKind::Tone(Pitch::High),
            SoundKind::SweepUp,
            SoundKind::SweepDown,
            SoundKind::Noise(Noise::White),
            SoundKind::Noise(Noise::Pink),
            SoundKind::Noise(Noise::Brown),
            SoundKind::Pulses { fast: false },
            SoundKind::Pulses { fast: true },
        ]
    }

    /// A short label, used in file names and keywords.
    pub fn label(&self) -> String {
        match self {
            SoundKind::Tone(p) => format!("{} tone", p.words()[0]),
            SoundKind::SweepUp => "rising sweep".into(),
            SoundKind::SweepDown => "falling sweep".into(),
            SoundKind::Noise(Noise::White) => "white noise".into(),
            SoundKind::Noise(Noise::Pink) => "pink noise".into(),
            SoundKind::Noise(Noise::Brown) => "brown noise".into(),
            SoundKind::Pulses { fast } => format!("{} clicks", if *fast { "fast" } else { "slow" }),
            SoundKind::Sequence(a, b) => format!("{} then {}", a.label(), b.label()),
        }
    }

    /// A noun phrase describing the sound, varied by `rng`.
    fn phrase(&self, rng: &mut SplitMix64) -> String {
        let pick = |rng: &mut SplitMix64, xs: &[&str]| xs[rng.below(xs.len() as u64) as usize].to_string();
        match self {
            SoundKind::Tone(p) => {
                let adj = pick(rng, p.words());
                let noun = pick(rng, &["tone", "beep", "hum", "whistle"]);
                format!("a steady {adj} {noun}")
            }
            SoundKind::SweepUp => {
                pick(rng, &["a tone rising in pitch", "an upward sweep", "a siren-like tone going up"])
            }
            SoundKind::SweepDown => {
                pick(rng, &["a tone falling in pitch", "a downward sweep", "a siren-like tone going down"])
            }
            SoundKind::Noise(Noise::White) => pick(rng, &["harsh white noise", "a loud hiss", "hissing static"]),
            SoundKind::Noise(Noise::Pink) => {
                pick(rng, &["soft pink noise", "a gentle rushing sound", "steady rain-like noise"])
            }
            SoundKind::Noise(Noise::Brown) => pick(rng, &["deep brown noise", "a low rumble", "a dull roaring rumble"]),
            SoundKind::Pulses { fast: false } => pick(rng, &["slow clicks", "a slow ticking", "clicks at a slow pace"]),
            SoundKind::Pulses { fast: true } => {
                pick(rng, &["rapid clicks", "a fast ticking", "clicks in quick succession"])
            }
            SoundKind::Sequence(a, b) => {
                let (a, b) = (a.phrase(rng), b.phrase(rng));
                match rng.below(3) {
                    0 => format!("{a} followed by {b}"),
                    1 => format!("first {a}, then {b}"),
                    _ => format!("{a} and afterwards {b}"),
                }
            }
        }
    }

    /// A caption for a clip of this kind.
    pub fn caption(&self, rng: &mut SplitMix64) -> String {
        let p = self.phrase(rng);
        let s = match rng.below(5) {
            0 => format!("{p}."),
            1 => format!("You can hear {p}."),
            2 => format!("{p} can be heard."),
            3 => format!("A recording of {p}."),
            _ => format!("{p} is playing."),
        };
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => s,
        }
    }

    /// Synthesise `n` samples at `sr` Hz, in [-1, 1].
    pub fn render(&self, n: usize, sr: u32, rng: &mut SplitMix64) -> Vec<f32> {
        let sr = sr as f32;
        let mut white = || (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
        match self {
            SoundKind::Tone(p) => (0..n).map(|i| 0.5 * (2.0 * PI * p.hz() * i as f32 / sr).sin()).collect(),
            SoundKind::SweepUp | SoundKind::SweepDown => {
                let (f0, f1) = if *self == SoundKind::SweepUp { (200.0f32, 3000.0f32) } else { (3000.0, 200.0) };
                let dur = n as f32 / sr;
                let k = (f1 / f0).ln() / dur;
                // Exponential sweep: phase = 2π f0 (e^{kt} - 1) / k.
                (0..n)
                    .map(|i| {
                        let t = i as f32 / sr;
                        0.5 * (2.0 * PI * f0 * ((k * t).exp() - 1.0) / k).sin()
                    })
                    .collect()
            }
            SoundKind::Noise(kind) => {
                let mut out = Vec::with_capacity(n);
                let (mut b0, mut b1, mut b2, mut brown) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                for _ in 0..n {
                    let w = white();
                    let v = match kind {
                        Noise::White => 0.3 * w,
                        Noise::Pink => {
                            // Paul Kellet's economy pink-noise filter.
                            b0 = 0.99765 * b0 + w * 0.0990460;
                            b1 = 0.96300 * b1 + w * 0.2965164;
                            b2 = 0.57000 * b2 + w * 1.0526913;
                            0.15 * (b0 + b1 + b2 + w * 0.1848)
                        }
                        Noise::Brown => {
                            brown = (brown + 0.02 * w) * 0.998;
                            2.0 * brown
                        }
                    };
                    out.push(v.clamp(-1.0, 1.0));
                }
                out
            }
            SoundKind::Pulses { fast } => {
                let period = (sr / if *fast { 8.0 } else { 2.0 }) as usize;
                let click = (0.01 * sr) as usize;
                (0..n)
                    .map(|i| {
                        let k = i % period.max(1);
                        if k < click {
                            0.8 * (1.0 - k as f32 / click as f32) * (2.0 * PI * 1000.0 * k as f32 / sr).sin()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
            SoundKind::Sequence(a, b) => {
                let half = n / 2;
                let mut out = a.render(half, sr as u32, rng);
                out.extend(b.render(n - half, sr as u32, rng));
                out
            }
        }
    }
}
