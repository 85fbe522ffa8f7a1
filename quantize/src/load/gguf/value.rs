//! GGUF metadata values and their decoding.

use super::{Reader, MAX_ARRAY_DEPTH};

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum GgufValue {
    /// `GGUF_TYPE_UINT8` (0).
    U8(u8),
    /// `GGUF_TYPE_INT8` (1).
    I8(i8),
    /// `GGUF_TYPE_UINT16` (2).
    U16(u16),
    /// `GGUF_TYPE_INT16` (3).
    I16(i16),
    /// `GGUF_TYPE_UINT32` (4).
    U32(u32),
    /// `GGUF_TYPE_INT32` (5).
    I32(i32),
    /// `GGUF_TYPE_FLOAT32` (6).
    F32(f32),
    /// `GGUF_TYPE_BOOL` (7).
    Bool(bool),
    /// `GGUF_TYPE_STRING` (8), UTF-8.
    String(String),
    /// `GGUF_TYPE_ARRAY` (9).
    Array(GgufArray),
    /// `GGUF_TYPE_UINT64` (10).
    U64(u64),
    /// `GGUF_TYPE_INT64` (11).
    I64(i64),
    /// `GGUF_TYPE_FLOAT64` (12).
    F64(f64),
}

/// A homogeneous metadata array, stored by element type.
#[derive(Clone, Debug, PartialEq)]
pub enum GgufArray {
    /// Array of u8.
    U8(Vec<u8>),
    /// Array of i8.
    I8(Vec<i8>),
    /// Array of u16.
    U16(Vec<u16>),
    /// Array of i16.
    I16(Vec<i16>),
    /// Array of u32.
    U32(Vec<u32>),
    /// Array of i32.
    I32(Vec<i32>),
    /// Array of f32.
    F32(Vec<f32>),
    /// Array of bool.
    Bool(Vec<bool>),
    /// Array of strings.
    String(Vec<String>),
    /// Array of arrays.
    Array(Vec<GgufArray>),
    /// Array of u64.
    U64(Vec<u64>),
    /// Array of i64.
    I64(Vec<i64>),
    /// Array of f64.
    F64(Vec<f64>),
}

impl GgufValue {
    /// The GGUF name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            GgufValue::U8(_) => "u8",
            GgufValue::I8(_) => "i8",
            GgufValue::U16(_) => "u16",
            GgufValue::I16(_) => "i16",
            GgufValue::U32(_) => "u32",
            GgufValue::I32(_) => "i32",
            GgufValue::F32(_) => "f32",
            GgufValue::Bool(_) => "bool",
            GgufValue::String(_) => "string",
            GgufValue::Array(_) => "array",
            GgufValue::U64(_) => "u64",
            GgufValue::I64(_) => "i64",
            GgufValue::F64(_) => "f64",
        }
    }

    /// The value of any integer type, if it is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value of a float type. An f32 is widened through its shortest decimal form, so
    /// the `1e-5` a converter stored as f32 reads as the f64 `1e-5`, not `9.99999974e-6`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => v.to_string().parse().ok(),
            GgufValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The value of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value of an array.
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl GgufArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            GgufArray::U8(v) => v.len(),
            GgufArray::I8(v) => v.len(),
            GgufArray::U16(v) => v.len(),
            GgufArray::I16(v) => v.len(),
            GgufArray::U32(v) => v.len(),
            GgufArray::I32(v) => v.len(),
            GgufArray::F32(v) => v.len(),
            GgufArray::Bool(v) => v.len(),
            GgufArray::String(v) => v.len(),
            GgufArray::Array(v) => v.len(),
            GgufArray::U64(v) => v.len(),
            GgufArray::I64(v) => v.len(),
            GgufArray::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements of a string array.
    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            GgufArray::String(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an integer array as i64 (`None` for other element types or a u64
    /// above `i64::MAX`).
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        match self {
            GgufArray::U8(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::I8(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::U16(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::I16(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::U32(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::I32(v) => Some(v.iter().map(|&x| x.into()).collect()),
            GgufArray::I64(v) => Some(v.clone()),
            GgufArray::U64(v) => v.iter().map(|&x| i64::try_from(x).ok()).collect(),
            _ => None,
        }
    }
}

impl Reader<'_> {
    /// Reads a value of GGUF type `ty`; `depth` counts the enclosing arrays.
    pub(super) fn value(&mut self, ty: u32, depth: usize) -> Result<GgufValue, String> {
        Ok(match ty {
            0 => GgufValue::U8(u8::from_le_bytes(self.array("u8 value")?)),
            1 => GgufValue::I8(i8::from_le_bytes(self.array("i8 value")?)),
            2 => GgufValue::U16(u16::from_le_bytes(self.array("u16 value")?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array("i16 value")?)),
            4 => GgufValue::U32(self.u32("u32 value")?),
            5 => GgufValue::I32(i32::from_le_bytes(self.array("i32 value")?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array("f32 value")?)),
            7 => GgufValue::Bool(self.bool()?),
            8 => GgufValue::String(self.string("string value")?),
            9 => GgufValue::Array(self.array_value(depth)?),
            10 => GgufValue::U64(self.u64("u64 value")?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array("i64 value")?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array("f64 value")?)),
            t => return Err(format!("unknown value type {t}")),
        })
    }

    fn bool(&mut self) -> Result<bool, String> {
        let at = self.pos;
        match self.array::<1>("bool value")? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(format!("bool value {b} at offset {at} is neither 0 nor 1")),
        }
    }

    fn array_value(&mut self, depth: usize) -> Result<GgufArray, String> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(format!("arrays nested deeper than {MAX_ARRAY_DEPTH}"));
        }
        let ty = self.u32("array element type")?;
        let min = match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            t => return Err(format!("unknown array element type {t}")),
        };
        let n = self.count(min, "array length")?;
        macro_rules! elems {
            ($variant:ident, $read:expr) => {{
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push($read);
                }
                GgufArray::$variant(v)
            }};
        }
        Ok(match ty {
            0 => elems!(U8, u8::from_le_bytes(self.array("u8 element")?)),
            1 => elems!(I8, i8::from_le_bytes(self.array("i8 element")?)),
            2 => elems!(U16, u16::from_le_bytes(self.array("u16 element")?)),
            3 => elems!(I16, i16::from_le_bytes(self.array("i16 element")?)),
            4 => elems!(U32, self.u32("u32 element")?),
            5 => elems!(I32, i32::from_le_bytes(self.array("i32 element")?)),
            6 => elems!(F32, f32::from_le_bytes(self.array("f32 element")?)),
            7 => elems!(Bool, self.bool()?),
            8 => elems!(String, self.string("string element")?),
            9 => elems!(Array, self.array_value(depth + 1)?),
            10 => elems!(U64, self.u64("u64 element")?),
            11 => elems!(I64, i64::from_le_bytes(self.array("i64 element")?)),
            _ => elems!(F64, f64::from_le_bytes(self.array("f64 element")?)),
        })
    }
}
