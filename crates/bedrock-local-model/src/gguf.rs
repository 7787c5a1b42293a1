//! A reader for GGUF files: the metadata, the tensor directory, and one tensor's bytes at a time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::quant::GgmlType;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Upper bounds that keep a corrupt header from asking for absurd allocations.
const MAX_STRING: u64 = 1 << 24;
const MAX_ARRAY: u64 = 1 << 28;
const MAX_DIMS: u32 = 8;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint(v) => Some(v),
            Value::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(v) => Some(v),
            Value::Uint(v) => Some(v as f64),
            Value::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where one tensor lives in the file and what it holds.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// GGML order: `dims[0]` is the contiguous (innermost) dimension.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Absolute byte offset in the file.
    pub offset: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// An open GGUF file: metadata and tensor directory read, tensor data read on demand.
pub struct GgufFile {
    reader: BufReader<File>,
    pub metadata: HashMap<String, Value>,
    pub tensors: HashMap<String, TensorInfo>,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<GgufFile> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let file_len = file.metadata()?.len();
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 4];
        r.read_exact(&mut magic).context("reading the GGUF magic")?;
        if &magic != MAGIC {
            bail!("{} is not a GGUF file (bad magic)", path.display());
        }
        let version = read_u32(&mut r)?;
        if !(2..=3).contains(&version) {
            bail!("unsupported GGUF version {version} (2 and 3 are supported)");
        }
        let n_tensors = read_u64(&mut r)?;
        let n_kv = read_u64(&mut r)?;
        if n_tensors > 1 << 20 || n_kv > 1 << 20 {
            bail!("implausible GGUF header ({n_tensors} tensors, {n_kv} keys)");
        }
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = read_string(&mut r)?;
            let ty = read_u32(&mut r)?;
            let value = read_value(&mut r, ty).with_context(|| format!("reading key {key}"))?;
            metadata.insert(key, value);
        }
        let mut infos = Vec::new();
        for _ in 0..n_tensors {
            let name = read_string(&mut r)?;
            let n_dims = read_u32(&mut r)?;
            if n_dims > MAX_DIMS {
                bail!("tensor {name}: {n_dims} dimensions");
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(read_u64(&mut r)?);
            }
            let ty_id = read_u32(&mut r)?;
            let offset = read_u64(&mut r)?;
            infos.push((name, dims, ty_id, offset));
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT)
            .max(1);
        let pos = r.stream_position()?;
        let data_start = pos
            .checked_next_multiple_of(alignment)
            .context("GGUF data offset overflows")?;
        let mut tensors = HashMap::new();
        for (name, dims, ty_id, offset) in infos {
            let ty = GgmlType::from_id(ty_id)
                .with_context(|| format!("tensor {name} has unknown ggml type {ty_id}"))?;
            let n_elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .with_context(|| format!("tensor {name}: element count overflows"))?;
            let n_bytes = ty.n_bytes(n_elements).with_context(|| {
                format!("tensor {name}: {n_elements} elements do not fill whole {ty:?} blocks")
            })?;
            let start = data_start
                .checked_add(offset)
                .context("tensor offset overflows")?;
            let end = start.checked_add(n_bytes).context("tensor end overflows")?;
            if end > file_len {
                bail!("tensor {name} runs past the end of the file (truncated download?)");
            }
            tensors.insert(
                name.clone(),
                TensorInfo {
                    name,
                    dims,
                    ty,
                    offset: start,
                    n_bytes,
                },
            );
        }
        Ok(GgufFile {
            reader: r,
            metadata,
            tensors,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.get(key)
            .and_then(Value::as_u64)
            .with_context(|| format!("GGUF metadata lacks integer {key}"))
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Reads one tensor's raw bytes.
    pub fn read_tensor(&mut self, info: &TensorInfo) -> Result<Vec<u8>> {
        let len = usize::try_from(info.n_bytes).context("tensor too large")?;
        let mut buf = vec![0u8; len];
        self.reader.seek(SeekFrom::Start(info.offset))?;
        self.reader
            .read_exact(&mut buf)
            .with_context(|| format!("reading tensor {}", info.name))?;
        Ok(buf)
    }
}

fn read_u8(r: &mut impl Read) -> Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u16(r: &mut impl Read) -> Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_le_bytes(b))
}

fn read_u32(r: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_string(r: &mut impl Read) -> Result<String> {
    let len = read_u64(r)?;
    if len > MAX_STRING {
        bail!("GGUF string of {len} bytes");
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    // Some converters wrote vocabularies with invalid UTF-8; keep what can be kept.
    Ok(String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn read_value(r: &mut impl Read, ty: u32) -> Result<Value> {
    Ok(match ty {
        0 => Value::Uint(u64::from(read_u8(r)?)),
        1 => Value::Int(i64::from(read_u8(r)? as i8)),
        2 => Value::Uint(u64::from(read_u16(r)?)),
        3 => Value::Int(i64::from(read_u16(r)? as i16)),
        4 => Value::Uint(u64::from(read_u32(r)?)),
        5 => Value::Int(i64::from(read_u32(r)? as i32)),
        6 => Value::Float(f64::from(f32::from_bits(read_u32(r)?))),
        7 => Value::Bool(read_u8(r)? != 0),
        8 => Value::Str(read_string(r)?),
        9 => {
            let item_ty = read_u32(r)?;
            let n = read_u64(r)?;
            if n > MAX_ARRAY {
                bail!("GGUF array of {n} items");
            }
            let mut items = Vec::with_capacity(n.min(1 << 20) as usize);
            for _ in 0..n {
                items.push(read_value(r, item_ty)?);
            }
            Value::Array(items)
        }
        10 => Value::Uint(read_u64(r)?),
        11 => Value::Int(read_u64(r)? as i64),
        12 => Value::Float(f64::from_bits(read_u64(r)?)),
        other => bail!("unknown GGUF value type {other}"),
    })
}
