//! Loading weights from PyTorch (`.pth`, `.pt`, `.bin`) and safetensors files into burn modules.
//!
//! burn-store matches file keys to module paths; this wrapper adds the checks a user needs: every
//! tensor the module expects must be in the file, every file tensor must be used or expressly ignored,
//! and shapes must agree. Each problem is reported with the file and the key. PyTorch files pass
//! [`pickle_guard`] first, which bounds what burn-store's pickle reader may build.

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn_store::{
    ApplyError, ApplyResult, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use clap_tools_backends::burn;

use super::pickle_guard;
use crate::error::{Error, Result};

/// How the tensors of a file are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// PyTorch's: Linear weights [out, in], norm parameters named weight/bias (`.pth`, Hugging Face
    /// safetensors).
    Pytorch,
    /// burn's own (checkpoints clap-tools wrote).
    Burn,
}

/// What to load from a weights file and how to name it.
#[derive(Debug, Clone, Default)]
pub struct LoadSpec {
    /// A key of the top-level dictionary that holds the state dict (PyTorch files: `model`,
    /// `state_dict`).
    pub top_level_key: Option<String>,
    /// Renames (regex, replacement) applied in order to the file's keys before they are matched to
    /// the module's parameter paths.
    pub remap: Vec<(String, String)>,
    /// File keys (after renaming) that are known and deliberately not loaded (regexes).
    pub ignore: Vec<String>,
    /// Module parameters the caller loads itself (exact paths; e.g. a 0-dimensional PyTorch tensor
    /// held as a one-element tensor): neither their absence nor their shape is an error here.
    pub separate: Vec<String>,
}

impl LoadSpec {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn top_level_key(mut self, key: impl Into<String>) -> Self {
        self.top_level_key = Some(key.into());
        self
    }
    pub fn remap(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.remap.push((from.into(), to.into()));
        self
    }
    pub fn ignore(mut self, pattern: impl Into<String>) -> Self {
        self.ignore.push(pattern.into());
        self
    }
    pub fn separately(mut self, path: impl Into<String>) -> Self {
        self.separate.push(path.into());
        self
    }
    /// This spec with `other`'s renames, ignores and separate parameters added after its own.
    pub fn and(mut self, other: LoadSpec) -> Self {
        self.remap.extend(other.remap);
        self.ignore.extend(other.ignore);
        self.separate.extend(other.separate);
        self
    }
}

/// True for file names burn-store reads as safetensors; everything else is read as a PyTorch file.
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Where a PANNs checkpoint keeps its state dict: under `model` in a PyTorch file (as PANNs saves
/// it), at the top of a safetensors file.
pub fn panns_top_level_key(path: &Path) -> Option<&'static str> {
    (!is_safetensors(path)).then_some("model")
}

/// Load the weights of `path` into `module`, checking that nothing is missing, misshapen or left over.
pub fn load<B: Backend, M: Module<B>>(mut module: M, path: &Path, layout: Layout, spec: &LoadSpec) -> Result<M> {
    if !path.is_file() {
        return Err(Error::file(path, "weights file not found"));
    }
    let store_err = |e: &dyn std::fmt::Display| Error::file(path, format!("cannot read weights: {e}"));
    let result = if is_safetensors(path) {
        // Enum variants (which encoder a CLAP model has) are not part of the names.
        let mut store = SafetensorsStore::from_file(path).allow_partial(true).validate(false).skip_enum_variants(true);
        for (from, to) in &spec.remap {
            store = store.with_key_remapping(from, to);
        }
        if layout == Layout::Pytorch {
            store = store.with_from_adapter(PyTorchToBurnAdapter);
        }
        module.load_from(&mut store).map_err(|e| store_err(&e))?
    } else {
        if layout == Layout::Burn {
            return Err(Error::file(path, "clap-tools checkpoints are .safetensors files"));
        }
        pickle_guard::check(path)?;
        let mut store = PytorchStore::from_file(path).allow_partial(true).validate(false);
        if let Some(key) = &spec.top_level_key {
            store = store.with_top_level_key(key);
        }
        for (from, to) in &spec.remap {
            store = store.with_key_remapping(from, to);
        }
        module.load_from(&mut store).map_err(|e| store_err(&e))?
    };
    check(path, &result, spec)?;
    Ok(module)
}

/// Load a checkpoint in PANNs' layout into `module`: PyTorch pickles, the weights under `model` when
/// the file nests them there (PANNs' releases), as `spec` maps them.
pub fn load_panns<B: Backend, M: Module<B>>(module: M, path: &Path, spec: LoadSpec) -> Result<M> {
    let spec = match panns_top_level_key(path) {
        Some(t) => spec.top_level_key(t),
        None => spec,
    };
    load(module, path, Layout::Pytorch, &spec)
}

/// Every key of a weights file, after the spec's top-level key (no renaming).
pub fn keys(path: &Path, top_level_key: Option<&str>) -> Result<Vec<String>> {
    let err = |e: &dyn std::fmt::Display| Error::file(path, format!("cannot read weights: {e}"));
    if is_safetensors(path) {
        let mut store = SafetensorsStore::from_file(path);
        store.keys().map_err(|e| err(&e))
    } else {
        pickle_guard::check(path)?;
        let mut store = PytorchStore::from_file(path);
        if let Some(key) = top_level_key {
            store = store.with_top_level_key(key);
        }
        store.keys().map_err(|e| err(&e))
    }
}

/// The shape of every tensor of a weights file, after the spec's top-level key (no renaming), read
/// in one pass without the values: what a config reads an encoder's widths from.
pub fn shapes(path: &Path, top_level_key: Option<&str>) -> Result<std::collections::BTreeMap<String, Vec<usize>>> {
    let err = |e: &dyn std::fmt::Display| Error::file(path, format!("cannot read weights: {e}"));
    let shapes = |all: &std::collections::BTreeMap<String, burn_store::TensorSnapshot>| {
        all.iter().map(|(k, t)| (k.clone(), t.shape.to_vec())).collect()
    };
    if is_safetensors(path) {
        let mut store = SafetensorsStore::from_file(path);
        store.get_all_snapshots().map(shapes).map_err(|e| err(&e))
    } else {
        pickle_guard::check(path)?;
        let mut store = PytorchStore::from_file(path);
        if let Some(key) = top_level_key {
            store = store.with_top_level_key(key);
        }
        store.get_all_snapshots().map(shapes).map_err(|e| err(&e))
    }
}

/// Read one tensor of a weights file as f32 values with its shape (for parameters that are not part
/// of a module, such as a 0-dimensional logit scale).
pub fn read_tensor(path: &Path, top_level_key: Option<&str>, key: &str) -> Result<(Vec<f32>, Vec<usize>)> {
    let err = |e: &dyn std::fmt::Display| Error::file(path, format!("cannot read {key:?}: {e}"));
    let data = if is_safetensors(path) {
        let mut store = SafetensorsStore::from_file(path);
        let snap = store.get_snapshot(key).map_err(|e| err(&e))?;
        snap.ok_or_else(|| Error::file(path, format!("missing tensor {key:?}")))?.to_data().map_err(|e| err(&e))?
    } else {
        pickle_guard::check(path)?;
        let mut store = PytorchStore::from_file(path);
        if let Some(k) = top_level_key {
            store = store.with_top_level_key(k);
        }
        let snap = store.get_snapshot(key).map_err(|e| err(&e))?;
        snap.ok_or_else(|| Error::file(path, format!("missing tensor {key:?}")))?.to_data().map_err(|e| err(&e))?
    };
    let shape = data.shape.to_vec();
    let values = data.convert::<f32>().into_vec::<f32>().map_err(|e| err(&format!("{e:?}")))?;
    Ok((values, shape))
}

fn check(path: &Path, result: &ApplyResult, spec: &LoadSpec) -> Result<()> {
    let ignore: Vec<regex::Regex> = spec
        .ignore
        .iter()
        .map(|p| regex::Regex::new(p).map_err(|e| Error::Internal(format!("bad ignore pattern {p:?}: {e}"))))
        .collect::<Result<_>>()?;
    let mut problems = Vec::new();
    let separate = |p: &str| spec.separate.iter().any(|s| s == p);
    for e in &result.errors {
        let path = match e {
            ApplyError::ShapeMismatch { path, .. }
            | ApplyError::DTypeMismatch { path, .. }
            | ApplyError::AdapterError { path, .. }
            | ApplyError::LoadError { path, .. } => path,
        };
        if !separate(path) {
            problems.push(e.to_string());
        }
    }
    for (key, _) in &result.missing {
        if !separate(key) {
            problems.push(format!("missing tensor {key:?}"));
        }
    }
    // burn-store matches PyTorch's norm `weight`/`bias` to burn's `gamma`/`beta` but still lists the
    // PyTorch names as unused.
    let applied: std::collections::HashSet<&str> = result.applied.iter().map(String::as_str).collect();
    let renamed = |key: &str| {
        let alt = |suffix: &str, to: &str| {
            key.strip_suffix(suffix).is_some_and(|s| applied.contains(format!("{s}{to}").as_str()))
        };
        alt("weight", "gamma") || alt("bias", "beta")
    };
    for key in &result.unused {
        if !renamed(key) && !ignore.iter().any(|r| r.is_match(key)) {
            problems.push(format!("unexpected tensor {key:?} (not part of the model)"));
        }
    }
    problems.sort();
    crate::error::check_problems(path, problems)
}
