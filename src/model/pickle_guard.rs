//! A bounded check of a PyTorch weights file before burn-store reads it.
//!
//! burn-store's pickle reader builds every object the pickle describes, cloning on every memo lookup,
//! recursing once per nesting level, and allocating what a tensor's shape says before comparing it
//! with the bytes stored. A 330-byte memo bomb, a million nested lists or a shape of 2^40 therefore
//! exhaust memory or the stack inside it, where nothing can be caught. This module walks the same
//! pickle without building it: each value carries only its cost (how many objects burn-store would
//! hold for it), its nesting depth, and — for the few values a tensor's arguments need (ints,
//! strings, classes, tuples) — the value itself, shared rather than cloned. Every tensor's storage,
//! offset, shape and stride are checked against the bytes in the archive. Files that pass are within
//! the [limits](MAX_PICKLE_BYTES) below, so burn-store reads them in bounded memory and time.
//!
//! Reference: the format written by `torch.save` (zip archive, protocol-2 pickle):
//! <https://github.com/pytorch/pytorch/blob/main/torch/serialization.py>.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use crate::error::{Error, Result};

/// The largest pickle (`data.pkl`, or a plain pickle file) read. Real checkpoints hold tens of kB
/// of pickle; the tensors live beside it.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// The most objects burn-store may build, memo copies included (about 64 bytes each).
pub const MAX_OBJECTS: u64 = 8 << 20;
/// The deepest nesting of containers (a state dict of a full training checkpoint is about 10 deep).
pub const MAX_DEPTH: u32 = 64;
/// The most dimensions of one tensor.
pub const MAX_DIMS: usize = 32;
/// The most entries of the zip archive.
pub const MAX_ENTRIES: usize = 1 << 20;

/// Check `path` (a PyTorch `.pth`/`.pt`/`.bin` file) before it is handed to burn-store. Errors name
/// the file and say what was refused.
pub fn check(path: &Path) -> Result<()> {
    let refuse = |why: String| Error::file(path, format!("refused as a PyTorch weights file: {why}"));
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = [0u8; 262];
    let n = read_up_to(&file, &mut head).map_err(|e| Error::io(path, e))?;
    let head = &head[..n];
    if head.starts_with(b"PK") {
        let archive =
            zip::ZipArchive::new(BufReader::new(file)).map_err(|e| refuse(format!("bad zip archive: {e}")))?;
        return check_zip(archive, len).map_err(refuse);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Err(refuse(legacy("a tar archive")));
    }
    // The legacy format opens with a pickled magic number (LONG1 of 10 bytes).
    if head.len() >= 4 && head[0] == 0x80 && head[2] == 0x8a && head[3] == 0x0a {
        return Err(refuse(legacy("the pre-1.6 legacy format")));
    }
    // A plain pickle: it may hold values, but no tensor data.
    if len > MAX_PICKLE_BYTES {
        return Err(refuse(format!("a {len}-byte pickle is over the {MAX_PICKLE_BYTES}-byte limit")));
    }
    let mut bytes = Vec::new();
    File::open(path).and_then(|f| f.take(MAX_PICKLE_BYTES).read_to_end(&mut bytes)).map_err(|e| Error::io(path, e))?;
    Walk::new(&bytes, &Storages::default()).run().map_err(refuse)
}

fn legacy(what: &str) -> String {
    format!("{what} (PyTorch before 1.6) is not read; load it in PyTorch and save it again with torch.save")
}

fn read_up_to(mut file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The bytes stored per storage key, indexed once (a file may hold a million entries and as many
/// tensors): `data/KEY` exactly, else the first entry in archive order ending in `/data/KEY`, the way
/// burn-store finds them.
#[derive(Default)]
struct Storages {
    exact: HashMap<String, u64>,
    nested: HashMap<String, u64>,
}

impl Storages {
    fn new(entries: &[(String, u64)]) -> Self {
        let mut s = Storages::default();
        for (name, size) in entries {
            if let Some(key) = name.strip_prefix("data/") {
                s.exact.entry(key.to_string()).or_insert(*size);
            }
            // Every key the name ends in after a `/data/`.
            for (at, _) in name.match_indices("/data/") {
                s.nested.entry(name[at + "/data/".len()..].to_string()).or_insert(*size);
            }
        }
        s
    }

    fn bytes(&self, key: &str) -> Option<u64> {
        self.exact.get(key).or_else(|| self.nested.get(key)).copied()
    }
}

fn check_zip(mut archive: zip::ZipArchive<BufReader<File>>, len: u64) -> std::result::Result<(), String> {
    if archive.len() > MAX_ENTRIES {
        return Err(format!("{} archive entries (at most {MAX_ENTRIES})", archive.len()));
    }
    let mut entries = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| format!("archive entry {i}: {e}"))?;
        let name = entry.name().to_string();
        // torch.save stores every entry uncompressed, and burn-store reads tensor bytes at their
        // offset in the file: a compressed entry would be read as garbage (or inflate without bound).
        if entry.compression() != zip::CompressionMethod::Stored {
            return Err(format!(
                "archive entry {name:?} is compressed ({}); torch.save never compresses",
                entry.compression()
            ));
        }
        let size = entry.size();
        let end = entry.data_start().and_then(|s| s.checked_add(size));
        if size != entry.compressed_size() || end.is_none_or(|end| end > len) {
            return Err(format!("archive entry {name:?} claims {size} bytes beyond the end of the file"));
        }
        entries.push((name, size));
    }
    // burn-store's order: data.pkl, archive/data.pkl, then any name ending in data.pkl.
    let pickle = ["data.pkl", "archive/data.pkl"]
        .iter()
        .find_map(|p| entries.iter().position(|(n, _)| n == p))
        .or_else(|| entries.iter().position(|(n, _)| n.ends_with("data.pkl")))
        .ok_or("no data.pkl in the archive")?;
    let (name, size) = &entries[pickle];
    if *size > MAX_PICKLE_BYTES {
        return Err(format!("{name} has {size} bytes, over the {MAX_PICKLE_BYTES}-byte limit"));
    }
    let mut bytes = Vec::with_capacity(*size as usize);
    archive
        .by_name(name)
        .and_then(|f| Ok(f.take(*size).read_to_end(&mut bytes)?))
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    Walk::new(&bytes, &Storages::new(&entries)).run()
}

/// What the walk keeps of a value.
#[derive(Clone, Debug)]
enum Val {
    Mark,
    Int(i128),
    Str(Rc<str>),
    Class(Rc<str>, Rc<str>),
    Tuple(Rc<[Item]>),
    /// A persistent id (a tensor storage reference).
    Pid(Rc<Item>),
    Tensor,
    /// Lists, dicts, floats, None, built objects: only their cost and depth matter.
    Other,
}

#[derive(Clone, Debug)]
struct Item {
    val: Val,
    /// Objects burn-store holds for this value (saturating).
    cost: u64,
    depth: u32,
}

impl Item {
    fn atom(val: Val) -> Self {
        let cost = match &val {
            Val::Str(s) => 1 + s.len() as u64 / 64,
            _ => 1,
        };
        Item { val, cost, depth: 1 }
    }
    /// A container of `children`, keeping the value `val`.
    fn of(val: Val, children: &[Item]) -> Self {
        let cost = children.iter().fold(1u64, |c, i| c.saturating_add(i.cost));
        let depth = children.iter().map(|i| i.depth).max().unwrap_or(0).saturating_add(1);
        Item { val, cost, depth }
    }
    fn int(&self) -> Option<i128> {
        match self.val {
            Val::Int(i) => Some(i),
            _ => None,
        }
    }
    fn ints(&self) -> Option<Vec<i128>> {
        match &self.val {
            Val::Tuple(t) => t.iter().map(Item::int).collect(),
            _ => None,
        }
    }
}

struct Walk<'a> {
    b: &'a [u8],
    at: usize,
    stack: Vec<Item>,
    memo: HashMap<u32, Item>,
    storages: &'a Storages,
    /// Objects built or copied so far (never decreases: it bounds burn-store's work as well).
    built: u64,
    tensors: usize,
}

impl<'a> Walk<'a> {
    fn new(b: &'a [u8], storages: &'a Storages) -> Self {
        Walk { b, at: 0, stack: Vec::new(), memo: Default::default(), storages, built: 0, tensors: 0 }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            format!("pickle cut short at byte {} ({n} more bytes declared, {} left)", self.at, self.b.len() - self.at)
        })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> std::result::Result<&'a str, String> {
        let rest = &self.b[self.at..];
        let end = rest.iter().take(1024).position(|&c| c == b'\n').ok_or("pickle text field without an end of line")?;
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| "pickle text field not UTF-8")?;
        self.at += end + 1;
        Ok(s)
    }
    fn text(&mut self, n: usize) -> std::result::Result<Rc<str>, String> {
        let at = self.at;
        std::str::from_utf8(self.take(n)?).map(Rc::from).map_err(|_| format!("string at byte {at} is not UTF-8"))
    }

    fn push(&mut self, item: Item) -> std::result::Result<(), String> {
        if item.depth > MAX_DEPTH {
            return Err(format!("objects nested over {MAX_DEPTH} deep (at byte {})", self.at));
        }
        self.count(1)?;
        self.stack.push(item);
        Ok(())
    }
    /// Count objects built or copied; over the limit, stop.
    fn count(&mut self, n: u64) -> std::result::Result<(), String> {
        self.built = self.built.saturating_add(n);
        if self.built > MAX_OBJECTS {
            return Err(format!(
                "the pickle builds over {MAX_OBJECTS} objects (a memo bomb or a huge structure; at byte {})",
                self.at
            ));
        }
        Ok(())
    }
    fn pop(&mut self) -> std::result::Result<Item, String> {
        match self.stack.pop() {
            Some(Item { val: Val::Mark, .. }) | None => Err(format!("pickle stack underflow at byte {}", self.at)),
            Some(i) => Ok(i),
        }
    }
    fn pop_to_mark(&mut self) -> std::result::Result<Vec<Item>, String> {
        let mark = self
            .stack
            .iter()
            .rposition(|i| matches!(i.val, Val::Mark))
            .ok_or_else(|| format!("pickle has no MARK to close at byte {}", self.at))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }
    /// Merge `children` into the container on top of the stack (APPEND, SETITEM, ...).
    fn extend_top(&mut self, children: &[Item]) -> std::result::Result<(), String> {
        let top = self.stack.last_mut().filter(|i| !matches!(i.val, Val::Mark)).ok_or("pickle stack underflow")?;
        for c in children {
            top.cost = top.cost.saturating_add(c.cost);
            top.depth = top.depth.max(c.depth.saturating_add(1));
        }
        if top.depth > MAX_DEPTH {
            return Err(format!("objects nested over {MAX_DEPTH} deep (at byte {})", self.at));
        }
        Ok(())
    }

    fn run(mut self) -> std::result::Result<(), String> {
        loop {
            let at = self.at;
            let op = self.u8().map_err(|_| "pickle ends without STOP".to_string())?;
            match op {
                0x80 => {
                    self.u8()?;
                }
                b'c' => {
                    let module = Rc::from(self.line()?);
                    let name = Rc::from(self.line()?);
                    self.push(Item::atom(Val::Class(module, name)))?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.push(Item::atom(Val::Int(v as i128)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Item::atom(Val::Int(v as i128)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().unwrap());
                    self.push(Item::atom(Val::Int(v as i128)))?;
                }
                b'I' => {
                    let line = self.line()?;
                    let v = match line {
                        "00" => 0,
                        "01" => 1,
                        _ => line.parse::<i64>().map_err(|_| format!("bad INT {line:?} at byte {at}"))? as i128,
                    };
                    self.push(Item::atom(Val::Int(v)))?;
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 8 {
                        return Err(format!("a {n}-byte integer at byte {at} (at most 8)"));
                    }
                    let bytes = self.take(n)?;
                    let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) { [0xff; 16] } else { [0; 16] };
                    buf[..n].copy_from_slice(bytes);
                    self.push(Item::atom(Val::Int(i128::from_le_bytes(buf))))?;
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Item::atom(Val::Other))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.text(n)?;
                    self.push(Item::atom(Val::Str(s)))?;
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let s = self.text(n)?;
                    self.push(Item::atom(Val::Str(s)))?;
                }
                b'N' | 0x88 | 0x89 | b']' | b'}' => self.push(Item::atom(Val::Other))?,
                b')' => self.push(Item::atom(Val::Tuple(Rc::from(Vec::new()))))?,
                b'(' => self.push(Item { val: Val::Mark, cost: 1, depth: 0 })?,
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push(tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = (0..n).map(|_| self.pop()).collect::<std::result::Result<Vec<_>, _>>()?;
                    items.reverse();
                    self.push(tuple(items))?;
                }
                b'l' | b'd' => {
                    let items = self.pop_to_mark()?;
                    if op == b'd' && items.len() % 2 != 0 {
                        return Err(format!("DICT with an odd number of items at byte {at}"));
                    }
                    self.push(Item::of(Val::Other, &items))?;
                }
                b'a' | b's' => {
                    let n = if op == b'a' { 1 } else { 2 };
                    let items = (0..n).map(|_| self.pop()).collect::<std::result::Result<Vec<_>, _>>()?;
                    self.extend_top(&items)?;
                }
                b'e' | b'u' => {
                    let items = self.pop_to_mark()?;
                    self.extend_top(&items)?;
                }
                b'q' | b'r' | 0x94 => {
                    let idx = match op {
                        b'q' => self.u8()? as u32,
                        b'r' => self.u32()?,
                        _ => self.memo.len() as u32,
                    };
                    let top =
                        self.stack.last().filter(|i| !matches!(i.val, Val::Mark)).ok_or("PUT on an empty stack")?;
                    let top = top.clone();
                    // burn-store stores a deep copy.
                    self.count(top.cost)?;
                    self.memo.insert(idx, top);
                }
                b'h' | b'j' => {
                    let idx = if op == b'h' { self.u8()? as u32 } else { self.u32()? };
                    let item = self
                        .memo
                        .get(&idx)
                        .cloned()
                        .ok_or_else(|| format!("GET of unknown memo {idx} at byte {at}"))?;
                    // burn-store copies the whole value on every lookup.
                    self.count(item.cost)?;
                    self.push(item)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Item::of(Val::Pid(Rc::new(pid.clone())), &[pid]))?;
                }
                b'R' | 0x81 | b'b' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let val =
                        if op == b'R' && self.rebuilds_tensor(&callable, &args)? { Val::Tensor } else { Val::Other };
                    self.push(Item::of(val, &[callable, args]))?;
                }
                b'.' => return Ok(()),
                _ => return Err(format!("pickle opcode 0x{op:02x} at byte {at} is not one torch.save writes")),
            }
        }
    }

    /// If `callable(*args)` rebuilds a tensor, check its storage, offset, shape and stride.
    fn rebuilds_tensor(&mut self, callable: &Item, args: &Item) -> std::result::Result<bool, String> {
        let Val::Class(module, name) = &callable.val else { return Ok(false) };
        let Val::Tuple(args) = &args.val else { return Ok(false) };
        match (&**module, &**name) {
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                self.tensors += 1;
                check_tensor(args, self.storages).map_err(|e| format!("tensor {}: {e}", self.tensors))?;
                Ok(true)
            }
            // (func, type, func's args, state)
            ("torch._tensor", "_rebuild_from_type_v2") if args.len() >= 3 => self.rebuilds_tensor(&args[0], &args[2]),
            ("torch._utils", "_rebuild_parameter") => Ok(args.first().is_some_and(|a| matches!(a.val, Val::Tensor))),
            _ => Ok(false),
        }
    }
}

fn tuple(items: Vec<Item>) -> Item {
    let item = Item::of(Val::Other, &items);
    Item { val: Val::Tuple(Rc::from(items)), ..item }
}

/// Bytes per element of a storage type, as burn-store reads them.
fn element_bytes(storage_type: &str) -> Option<u64> {
    Some(match storage_type {
        "DoubleStorage" | "LongStorage" => 8,
        "FloatStorage" | "IntStorage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "CharStorage" | "ByteStorage" | "BoolStorage" => 1,
        _ => return None,
    })
}

/// `(storage, storage_offset, size, stride, ...)`: the elements the tensor covers must lie inside the
/// bytes stored for its storage, and be contiguous (burn-store reads them in order, ignoring stride).
fn check_tensor(args: &[Item], storages: &Storages) -> std::result::Result<(), String> {
    if args.len() < 4 {
        return Err(format!("{} arguments (storage, offset, size, stride expected)", args.len()));
    }
    let Val::Pid(pid) = &args[0].val else { return Err("its storage is not a persistent id".into()) };
    let Val::Tuple(pid) = &pid.val else { return Err("its storage id is not a tuple".into()) };
    let storage_type = match pid.get(1).map(|i| &i.val) {
        Some(Val::Class(_, name)) | Some(Val::Str(name)) => name.clone(),
        _ => return Err("its storage has no type".into()),
    };
    let elem = element_bytes(&storage_type).ok_or_else(|| format!("storage type {storage_type} is not read"))?;
    let Some(Val::Str(key)) = pid.get(2).map(|i| &i.val) else { return Err("its storage has no key".into()) };
    let stored =
        storages.bytes(key).ok_or_else(|| format!("storage {key:?} is not in the archive (no data/{key} entry)"))?;
    let offset = args[1].int().ok_or("storage offset is not an integer")?;
    let shape = args[2].ints().ok_or("size is not a tuple of integers")?;
    let stride = args[3].ints().ok_or("stride is not a tuple of integers")?;
    if shape.len() > MAX_DIMS || shape.len() != stride.len() {
        return Err(format!("size {shape:?} with stride {stride:?}"));
    }
    if offset < 0 || shape.iter().any(|&d| d < 0) {
        return Err(format!("negative size or offset: size {shape:?}, offset {offset}"));
    }
    let numel = shape.iter().try_fold(1i128, |n, &d| n.checked_mul(d)).filter(|&n| n <= u64::MAX as i128);
    let numel = numel.ok_or_else(|| format!("size {shape:?} overflows"))?;
    // Row-major strides; a dimension of size 1 may carry any stride.
    let mut expected = 1i128;
    for (&d, &s) in shape.iter().zip(&stride).rev() {
        if d != 1 && s != expected && numel > 0 {
            return Err(format!(
                "size {shape:?} is stored non-contiguously (stride {stride:?}); save tensor.contiguous() instead"
            ));
        }
        expected = expected.saturating_mul(d);
    }
    let bytes = offset.checked_add(numel).and_then(|n| n.checked_mul(elem as i128));
    match bytes {
        Some(b) if b <= stored as i128 => Ok(()),
        _ => Err(format!(
            "size {shape:?} at offset {offset} needs more than the {stored} bytes stored for storage {key:?} ({storage_type})"
        )),
    }
}
