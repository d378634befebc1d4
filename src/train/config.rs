//! Training configuration, read from TOML. Unknown keys and bad values are errors that name the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::model::registry::{AudioSection, TextSection};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub train: LoopConfig,
    pub checkpoint: CheckpointConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Captions tables (Parquet or caption JSON) of the training clips.
    pub train_captions: Vec<PathBuf>,
    /// Waveform index of the packed training clips (waveform.csv or waveforms.parquet).
    pub train_waveforms: PathBuf,
    pub val_captions: Vec<PathBuf>,
    pub val_waveforms: PathBuf,
    /// Sample rate the waveforms were packed at (32000 or 16000).
    pub sample_rate: u32,
    /// Length of the random training crops, in seconds (clips shorter are used whole).
    pub crop_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub audio: AudioSection,
    pub text: TextSection,
    /// Size of the shared embedding space.
    pub shared_dim: usize,
    /// Token length of the captions (padding and truncation).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// SpecAugment on the training log-mels (2 time masks ≤ 64 frames, 2 frequency masks ≤ 8 bands).
    #[serde(default = "yes")]
    pub specaugment: bool,
    /// Start a new run from these weights (fine-tuning, as the reference's `--finetune`): a clap-tools
    /// checkpoint folder or a checkpoint in the reference's released layout (`.pth`, read with
    /// `[model.text] dir`'s config.json). Weights only: a new optimizer, the schedule from 0. The
    /// model it holds must be the config's. Wins over the encoders' own pretrained weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Encoders that do not train (`["audio"]`, `["text"]`): they run in inference mode (BatchNorm's
    /// running statistics, no dropout) and their weights stay as loaded; the projections and the
    /// logit scale train.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<Part>,
}

/// One of the two encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Audio,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// "adam" (the reference's).
    #[serde(default = "default_optimizer")]
    pub kind: String,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub weight_decay: f32,
    /// Clip gradients to this L2 norm (none when absent). burn clips each parameter's gradient on its
    /// own, where PyTorch's clip_grad_norm_ uses the norm of all of them together.
    #[serde(default)]
    pub grad_clip_norm: Option<f32>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self { kind: default_optimizer(), lr: default_lr(), weight_decay: 0.0, grad_clip_norm: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Linear warm-up from 0 to the learning rate over these iterations, then cosine decay to 0.
    pub warmup_iterations: u64,
    pub total_iterations: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    pub batch_size: usize,
    /// Validate (all retrieval metrics) every this many iterations, and at the end.
    pub val_interval: u64,
    /// Clips per forward pass in validation.
    #[serde(default = "default_val_batch")]
    pub val_batch_size: usize,
    /// Validation batches zero-pad clips to the longest, as the reference's do (its numbers
    /// exactly); by default only clips of one length share a forward pass, so the metrics do not
    /// depend on `val_batch_size`.
    #[serde(default)]
    pub padded_val_batches: bool,
    pub seed: u64,
    /// Threads preparing batches (decode, crop, log-mel, tokenise) ahead of the model.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Devices to train on, data parallel (each takes a part of every batch; the loss sees the
    /// whole batch). Leave it out for every device the backend sees (the CPU backend has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<usize>,
    /// Write TensorBoard event files in the run folder (train/* per iteration, val/* per validation).
    #[serde(default = "yes")]
    pub tensorboard: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Folder of the run: checkpoints, the JSONL log, the config used.
    pub dir: PathBuf,
    /// Write a periodic checkpoint every this many iterations (and at each validation).
    pub every: u64,
    /// How many periodic checkpoints to keep (the best is kept apart).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn yes() -> bool {
    true
}
fn default_max_tokens() -> usize {
    30
}
fn default_optimizer() -> String {
    "adam".into()
}
fn default_lr() -> f64 {
    1e-4
}
fn default_val_batch() -> usize {
    8
}
fn default_workers() -> usize {
    4
}
fn default_keep() -> usize {
    1
}

// The encoders' own limits (widths, vector sizes) live with them, in model::encoder.
pub use crate::model::encoder::MAX_DIM;

/// Limits on sizes in a config, checked before anything is allocated; far above any real run.
pub const MAX_TOKENS: usize = 4096;
pub const MAX_BATCH: usize = 65_536;
pub const MAX_WORKERS: usize = 256;
pub const MAX_CROP_SECONDS: f64 = 3600.0;

impl TrainConfig {
    /// Read and check a TOML config. Relative paths are taken from the config file's folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_file_with(path, &[])
    }

    /// [`from_file`](Self::from_file) with `overrides` applied to the file's values first, each
    /// `dotted.key=value` (the value in TOML syntax, or else taken as a string), typed and checked like
    /// the file. A relative path given in an override is taken from the working directory.
    pub fn from_file_with(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        if overrides.is_empty() {
            // Parsed from the text (not the table) so errors keep their line.
            let mut config: TrainConfig = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
            config.resolve(path);
            return config.checked(path);
        }
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        // Through TOML text again, so a bad value is located like one in the file and named by the
        // override that set it.
        let merged = toml::to_string(&table).map_err(|e| Error::config("--set", e.to_string()))?;
        let mut config: TrainConfig = toml::from_str(&merged).map_err(|e| {
            let (_, key, msg) = locate(&merged, &e);
            let key = key.unwrap_or_default();
            match overrides.iter().find(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == key)) {
                Some(o) => Error::config("--set", format!("{o}: {msg}")),
                None => Error::config(key, format!("{msg} (with the --set overrides)")),
            }
        })?;
        config.resolve(path);
        // Problems are named by key; say the keys' values may come from the command line.
        config.checked(&PathBuf::from(format!("{} with the --set overrides", path.display())))
    }

    fn checked(self, path: &Path) -> Result<Self> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(Error::Many { path: path.to_path_buf(), problems })
        }
    }

    /// Relative paths are taken from the config file's folder ([`crate::paths`]); afterwards every path
    /// is absolute, so the run's `config.json` names the same files from anywhere.
    fn resolve(&mut self, holder: &Path) {
        self.map_paths(|p| crate::paths::resolve(holder, p));
    }

    /// The config as a file at `holder` should hold it: paths below the holder's folder relative to
    /// it, others absolute (so a folder with the config and its data can be moved as a whole).
    pub fn relative_to(mut self, holder: &Path) -> Self {
        self.map_paths(|p| crate::paths::relative_to(holder, p));
        self
    }

    /// Apply `f` to every path of the config.
    fn map_paths(&mut self, f: impl Fn(&Path) -> PathBuf) {
        let fix = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() {
                *p = f(p)
            }
        };
        self.data.train_captions.iter_mut().for_each(fix);
        self.data.val_captions.iter_mut().for_each(fix);
        fix(&mut self.data.train_waveforms);
        fix(&mut self.data.val_waveforms);
        self.model.audio.paths_mut().into_iter().for_each(fix);
        self.model.text.paths_mut().into_iter().for_each(fix);
        fix(&mut self.checkpoint.dir);
        if let Some(p) = &mut self.model.init {
            fix(p);
        }
    }

    /// Every bad value, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |ok: bool, key: &str, msg: &str| {
            if !ok {
                p.push(format!("{key}: {msg}"));
            }
        };
        check(!self.data.train_captions.is_empty(), "data.train_captions", "give at least one captions table");
        check(!self.data.val_captions.is_empty(), "data.val_captions", "give at least one captions table");
        check(
            matches!(self.data.sample_rate, 32000 | 16000),
            "data.sample_rate",
            "must be 32000 or 16000 (the CNN14 front end's rates)",
        );
        // Sizes are bounded before anything is allocated for them (the limits are far above real runs).
        let crop = self.data.crop_seconds * self.data.sample_rate as f64;
        check(
            crop.is_finite() && crop >= 1024.0 && self.data.crop_seconds <= MAX_CROP_SECONDS,
            "data.crop_seconds",
            &format!("must hold at least one STFT window (1024 samples) and at most {MAX_CROP_SECONDS} s"),
        );
        self.model.audio.problems("model.audio", &mut |ok, key, msg| check(ok, &key, msg));
        self.model.text.problems("model.text", &mut |ok, key, msg| check(ok, &key, msg));
        check((1..=MAX_DIM).contains(&self.model.shared_dim), "model.shared_dim", &format!("must be 1 to {MAX_DIM}"));
        check(
            (3..=MAX_TOKENS).contains(&self.model.max_tokens),
            "model.max_tokens",
            &format!("must be 3 ([CLS] x [SEP]) to {MAX_TOKENS}"),
        );
        let freeze = &self.model.freeze;
        check(
            !freeze.iter().enumerate().any(|(i, p)| freeze[..i].contains(p)),
            "model.freeze",
            "names an encoder twice",
        );
        check(self.optimizer.kind == "adam", "optimizer.kind", "the optimizers are: adam");
        check(
            self.optimizer.lr > 0.0 && self.optimizer.lr <= 1.0,
            "optimizer.lr",
            "must be > 0 and at most 1 (Adam's steps are about lr in size; the reference uses 1e-4)",
        );
        check(self.optimizer.weight_decay >= 0.0, "optimizer.weight_decay", "must be >= 0");
        if let Some(c) = self.optimizer.grad_clip_norm {
            check(c > 0.0, "optimizer.grad_clip_norm", "must be > 0");
        }
        check(self.schedule.total_iterations > 0, "schedule.total_iterations", "must be > 0");
        check(
            self.schedule.warmup_iterations < self.schedule.total_iterations,
            "schedule.warmup_iterations",
            "must be less than schedule.total_iterations",
        );
        check(
            (2..=MAX_BATCH).contains(&self.train.batch_size),
            "train.batch_size",
            &format!("must be 2 (the loss contrasts the batch) to {MAX_BATCH}"),
        );
        check(self.train.val_interval > 0, "train.val_interval", "must be > 0");
        check(
            (1..=MAX_BATCH).contains(&self.train.val_batch_size),
            "train.val_batch_size",
            &format!("must be 1 to {MAX_BATCH}"),
        );
        check((1..=MAX_WORKERS).contains(&self.train.workers), "train.workers", &format!("must be 1 to {MAX_WORKERS}"));
        check(self.train.devices != Some(0), "train.devices", "must be > 0 (leave it out for every visible device)");
        if let Some(d) = self.train.devices {
            check(
                self.train.batch_size >= d,
                "train.batch_size",
                "must be at least train.devices (each device takes a part)",
            );
        }
        check(self.checkpoint.every > 0, "checkpoint.every", "must be > 0");
        check(self.checkpoint.keep > 0, "checkpoint.keep", "must be > 0");
        p
    }
}

/// The keys that hold paths: a relative one given in an override is made absolute from the working
/// directory (the file's are taken from its folder).
const PATH_KEYS: &[&str] = &[
    "data.train_captions",
    "data.val_captions",
    "data.train_waveforms",
    "data.val_waveforms",
    "model.audio.pretrained",
    "model.text.dir",
    "model.init",
    "checkpoint.dir",
];

/// Set `dotted.key=value` in `table` (tables on the way are made when missing).
fn apply_override(table: &mut toml::Table, spec: &str) -> Result<()> {
    let bad = |m: String| Error::config("--set", format!("{spec:?}: {m}"));
    let (key, raw) = spec.split_once('=').ok_or_else(|| bad("expected KEY=VALUE".into()))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("the key is empty or has an empty part".into()));
    }
    // A TOML value (64, 3e-4, true, ["a", "b"], "text"), else the text as a string (a bare path).
    let mut value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    if PATH_KEYS.contains(&key) {
        let cwd = std::env::current_dir().map_err(|e| bad(format!("the working directory: {e}")))?;
        let absolute = |v: &mut toml::Value| {
            if let toml::Value::String(s) = v {
                if !s.is_empty() && Path::new(s.as_str()).is_relative() {
                    *s = cwd.join(s.as_str()).to_string_lossy().into_owned();
                }
            }
        };
        match &mut value {
            toml::Value::Array(items) => items.iter_mut().for_each(absolute),
            v => absolute(v),
        }
    }
    let (last, path) = parts.split_last().expect("at least one part");
    let mut at = table;
    for (i, p) in path.iter().enumerate() {
        let entry = at.entry(p.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
        at = entry.as_table_mut().ok_or_else(|| bad(format!("{} is not a table", parts[..=i].join("."))))?;
    }
    at.insert(last.to_string(), value);
    Ok(())
}

/// A TOML error with the line and, where the error sits on a `key = value` line, the dotted key.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    match locate(text, e) {
        (Some(line), Some(key), msg) => Error::line(path, line, format!("{key}: {msg}")),
        (Some(line), None, msg) => Error::line(path, line, msg),
        (None, _, msg) => Error::file(path, msg),
    }
}

/// Where in `text` a TOML error is: its line and dotted key when known, and its message.
fn locate(text: &str, e: &toml::de::Error) -> (Option<u64>, Option<String>, String) {
    let msg = e.message().trim().to_string();
    let Some(span) = e.span() else { return (None, None, msg) };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() as u64 + 1;
    let before: Vec<&str> = text[..start].lines().collect();
    let current = text.lines().nth(line as usize - 1).unwrap_or("");
    let section = before.iter().rev().find_map(|l| {
        let l = l.trim();
        (l.starts_with('[') && l.ends_with(']')).then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    });
    // Errors inside a tagged table ([model.audio], [model.text]) point at its header: name the key
    // from the message.
    if let Some(table) = current.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        let table = table.trim();
        let field = msg.strip_prefix("unknown field `").and_then(|r| r.split_once('`')).map(|(f, _)| f);
        let key = match field {
            Some(f) => format!("{table}.{f}"),
            None if msg.contains("unknown variant") || msg.contains("missing field `kind`") => format!("{table}.kind"),
            None => table.to_string(),
        };
        return (Some(line), Some(key), msg);
    }
    let key =
        current.split_once('=').map(|(k, _)| k.trim().to_string()).filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = match (section, key) {
        (Some(s), Some(k)) => Some(format!("{s}.{k}")),
        (None, k) => k,
        (Some(_), None) => None,
    };
    (Some(line), key, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::{AudioEncoderConfig, TextEncoderConfig};

    const GOOD: &str = r#"
[data]
train_captions = ["train.parquet"]
train_waveforms = "packed/waveforms.parquet"
val_captions = ["val.parquet"]
val_waveforms = "packed/waveforms.parquet"
sample_rate = 32000
crop_seconds = 10.0

[model]
shared_dim = 1024

[model.audio]
kind = "cnn14"

[model.text]
kind = "bert"
dir = "bert-medium"

[schedule]
warmup_iterations = 20
total_iterations = 100

[train]
batch_size = 128
val_interval = 10
seed = 1

[checkpoint]
dir = "runs/x"
every = 5
"#;

    fn parse(text: &str) -> Result<TrainConfig> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        TrainConfig::from_file(&p)
    }

    #[test]
    fn a_good_config_parses_with_defaults_and_resolved_paths() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.optimizer.lr, 1e-4);
        assert!(c.model.text.pretrained() && c.model.specaugment);
        assert!(c.data.train_waveforms.is_absolute());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let err = parse(&GOOD.replace("shared_dim = 1024", "shared_dim = 1024\nshared_dims = 3")).unwrap_err();
        assert!(err.to_string().contains("shared_dims"), "{err}");
        assert!(err.to_string().contains(":12:"), "names the line: {err}");
        let err = parse(&GOOD.replace("sample_rate = 32000", "sample_rate = 44100")).unwrap_err();
        assert!(err.to_string().contains("data.sample_rate"), "{err}");
        let err = parse(&GOOD.replace("warmup_iterations = 20", "warmup_iterations = 200")).unwrap_err();
        assert!(err.to_string().contains("schedule.warmup_iterations"), "{err}");
        let err = parse(&GOOD.replace("batch_size = 128", "batch_size = \"big\"")).unwrap_err();
        assert!(err.to_string().contains("train.batch_size"), "{err}");
    }

    fn with_sets(text: &str, sets: &[&str]) -> Result<TrainConfig> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        TrainConfig::from_file_with(&p, &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn overrides_are_typed_and_checked_like_the_file() {
        let c = with_sets(GOOD, &["train.batch_size=64", "optimizer.lr=3e-4", "model.specaugment=false"]).unwrap();
        assert_eq!((c.train.batch_size, c.optimizer.lr, c.model.specaugment), (64, 3e-4, false));
        // A path from the command line is taken from the working directory; the file's from its folder.
        let c =
            with_sets(GOOD, &["checkpoint.dir=runs/y", "data.val_captions=[\"a.parquet\", \"b.parquet\"]"]).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(c.checkpoint.dir, cwd.join("runs/y"));
        assert_eq!(c.data.val_captions, [cwd.join("a.parquet"), cwd.join("b.parquet")]);
        assert!(
            c.data.train_waveforms.ends_with("packed/waveforms.parquet") && !c.data.train_waveforms.starts_with(&cwd)
        );
        for (set, want) in [
            ("train.batch_size=big", "train.batch_size"),
            ("train.batch_size=1", "train.batch_size"),
            ("train.batch_sise=8", "batch_sise"),
            ("optimizer.lr", "KEY=VALUE"),
            ("train..seed=1", "empty part"),
            ("train.seed.x=1", "train.seed is not a table"),
            ("model.audio.kind=cnn15", "cnn15"),
        ] {
            let err = with_sets(GOOD, &[set]).unwrap_err().to_string();
            assert!(err.contains(want), "{set}: {err}");
        }
    }

    #[test]
    fn encoder_sections_check_their_kind_and_keys() {
        let err = parse(&GOOD.replace("kind = \"cnn14\"", "kind = \"cnn15\"")).unwrap_err().to_string();
        assert!(err.contains("model.audio.kind") && err.contains("small_cnn") && err.contains("cnn15"), "{err}");
        let err = parse(&GOOD.replace("kind = \"bert\"", "kind = \"gpt\"")).unwrap_err().to_string();
        assert!(err.contains("model.text.kind"), "{err}");
        let err =
            parse(&GOOD.replace("kind = \"cnn14\"", "kind = \"cnn14\"\nchannels = [8, 8]")).unwrap_err().to_string();
        assert!(err.contains("model.audio.channels") && err.contains("six"), "{err}");
        let err = parse(&GOOD.replace("kind = \"cnn14\"", "kind = \"cnn14\"\ndim = 64")).unwrap_err().to_string();
        assert!(err.contains("model.audio.dim") && err.contains("unknown field"), "{err}");
        let err =
            parse(&GOOD.replace("kind = \"bert\"", "kind = \"small\"\npretrained = true")).unwrap_err().to_string();
        assert!(err.contains("model.text.pretrained"), "{err}");
        let err = parse(&GOOD.replace("kind = \"cnn14\"", "kind = \"cnn14\"\nwidth = 3")).unwrap_err().to_string();
        assert!(err.contains("model.audio.width") || err.contains("width"), "{err}");
        let err = parse(&GOOD.replace("seed = 1", "seed = 1\ndevices = 0")).unwrap_err().to_string();
        assert!(err.contains("train.devices"), "{err}");
        // Hostile sizes are named by key before anything is allocated for them.
        for (from, to, key) in [
            ("shared_dim = 1024", "shared_dim = 10000000000000", "model.shared_dim"),
            ("shared_dim = 1024", "shared_dim = 1024\nmax_tokens = 10000000000000", "model.max_tokens"),
            ("kind = \"cnn14\"", "kind = \"cnn14\"\nchannels = [100000, 100000, 8, 8, 8, 8]", "model.audio.channels"),
            ("seed = 1", "seed = 1\nworkers = 1000000", "train.workers"),
            ("crop_seconds = 10.0", "crop_seconds = 1e-300", "data.crop_seconds"),
            ("crop_seconds = 10.0", "crop_seconds = 1e300", "data.crop_seconds"),
        ] {
            let err = parse(&GOOD.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(key), "{to}: {err}");
        }
        let err = parse(&GOOD.replace("shared_dim = 1024", "shared_dim = 1024\n[optimizer]\nlr = 1e30"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("optimizer.lr"), "{err}");

        let small = GOOD
            .replace("kind = \"cnn14\"", "kind = \"small_cnn\"\nchannels = [8, 16]\ndim = 32")
            .replace("kind = \"bert\"", "kind = \"small\"\ndim = 24");
        let c = parse(&small).unwrap();
        match c.model.audio.encoder() {
            AudioEncoderConfig::SmallCnn(a) => assert_eq!((a.channels, a.dim), (vec![8, 16], 32)),
            other => panic!("{other:?}"),
        }
        match c.model.text.encoder(500, 30).unwrap() {
            TextEncoderConfig::Small(t) => assert_eq!((t.vocab_size, t.max_positions, t.dim), (500, 30, 24)),
            other => panic!("{other:?}"),
        }
        assert!(!c.model.text.pretrained());
    }
}
