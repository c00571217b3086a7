//! Run-time values of a reward graph. Text borrows from the completion, the row or the plan's
//! constants wherever it can, so scoring a completion allocates nothing for most rewards.
//!
//! An optional with a value is represented by the value itself, and `none` by [`Value::None`]: the
//! graph is typed, so nothing is lost.

use std::borrow::Cow;

use rlx_compiler::plan;

#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Cow<'a, str>),
    Box([f64; 4]),
    List(Vec<Value<'a>>),
    Tuple(Vec<Value<'a>>),
}

/// How a node's value travels in compiled code: as a machine scalar, or held by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Float,
    Int,
    Bool,
    Host,
}

impl Kind {
    /// The number compiled code passes to name a kind to the host.
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Kind {
        [Kind::Float, Kind::Int, Kind::Bool, Kind::Host][code as usize & 3]
    }

    /// The kind of a plan type (`float`, `int?`, `list[box]`).
    pub fn of(ty: &str) -> Kind {
        match ty {
            "float" => Kind::Float,
            "int" => Kind::Int,
            "bool" => Kind::Bool,
            _ => Kind::Host,
        }
    }
}

impl<'a> Value<'a> {
    /// The same value, owning its text.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::None => Value::None,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(v) => Value::Int(v),
            Value::Float(v) => Value::Float(v),
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Box(b) => Value::Box(b),
            Value::List(items) => Value::List(items.into_iter().map(Value::into_owned).collect()),
            Value::Tuple(items) => Value::Tuple(items.into_iter().map(Value::into_owned).collect()),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The value as the scalar bits compiled code passes around.
    pub fn to_bits(&self, kind: Kind) -> u64 {
        match (kind, self) {
            (Kind::Float, v) => v.as_f64().unwrap_or(f64::NAN).to_bits(),
            (Kind::Int, Value::Int(v)) => *v as u64,
            (Kind::Int, v) => v.as_f64().map_or(0, |f| f as i64 as u64),
            (Kind::Bool, Value::Bool(b)) => u64::from(*b),
            _ => 0,
        }
    }

    pub fn from_bits(kind: Kind, bits: u64) -> Value<'static> {
        match kind {
            Kind::Float => Value::Float(f64::from_bits(bits)),
            Kind::Int => Value::Int(bits as i64),
            Kind::Bool => Value::Bool(bits & 1 == 1),
            Kind::Host => Value::None,
        }
    }

    /// The value as the number a reward or term reports: bools as 0 or 1.
    pub fn score(&self) -> Option<f64> {
        self.as_f64()
    }

    /// A constant of the plan, as a value of type `ty`.
    pub fn from_plan(value: &plan::Value, ty: &str) -> Value<'static> {
        match value {
            plan::Value::None => Value::None,
            plan::Value::Bool(b) => Value::Bool(*b),
            plan::Value::Int(v) if ty.trim_end_matches('?') == "float" => Value::Float(*v as f64),
            plan::Value::Int(v) => Value::Int(*v),
            plan::Value::Float(v) => Value::Float(*v),
            plan::Value::Text(t) => Value::Text(Cow::Owned(t.clone())),
            plan::Value::List(items) | plan::Value::Tuple(items) if ty == "box" => {
                let mut coordinates = [0.0; 4];
                for (slot, item) in coordinates.iter_mut().zip(items) {
                    *slot = item.as_f64().unwrap_or(f64::NAN);
                }
                Value::Box(coordinates)
            }
            plan::Value::List(items) => {
                let inner = list_item_type(ty);
                Value::List(items.iter().map(|v| Value::from_plan(v, inner)).collect())
            }
            plan::Value::Tuple(items) => {
                let inner = tuple_item_types(ty);
                Value::Tuple(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| Value::from_plan(v, inner.get(i).copied().unwrap_or("_")))
                        .collect(),
                )
            }
        }
    }

    /// A field of a row, read as type `ty` (`_` when the dataset declares no schema).
    pub fn from_json(json: &'a serde_json::Value, ty: &str) -> Result<Value<'a>, String> {
        use serde_json::Value as Json;
        let base = ty.strip_suffix('?');
        if let (Some(_), Json::Null) = (base, json) {
            return Ok(Value::None);
        }
        let ty = base.unwrap_or(ty);
        let wrong = || format!("expected {ty}, found {}", json_kind(json));
        Ok(match (ty, json) {
            ("float", Json::Number(n)) => Value::Float(n.as_f64().ok_or_else(wrong)?),
            ("int", Json::Number(n)) => Value::Int(n.as_i64().ok_or_else(wrong)?),
            ("bool", Json::Bool(b)) => Value::Bool(*b),
            ("box", Json::Array(items)) if items.len() == 4 => {
                let mut coordinates = [0.0; 4];
                for (slot, item) in coordinates.iter_mut().zip(items) {
                    *slot = item.as_f64().ok_or_else(wrong)?;
                }
                Value::Box(coordinates)
            }
            ("_", json) => Value::infer(json),
            (ty, Json::Array(items)) if ty.starts_with("list[") => Value::List(
                items
                    .iter()
                    .map(|item| Value::from_json(item, list_item_type(ty)))
                    .collect::<Result<_, _>>()?,
            ),
            (_, Json::String(s)) if !matches!(ty, "float" | "int" | "bool" | "box") => {
                Value::Text(Cow::Borrowed(s))
            }
            _ => return Err(wrong()),
        })
    }

    fn infer(json: &'a serde_json::Value) -> Value<'a> {
        use serde_json::Value as Json;
        match json {
            Json::Null => Value::None,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => n
                .as_i64()
                .map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
            Json::String(s) => Value::Text(Cow::Borrowed(s)),
            Json::Array(items) => Value::List(items.iter().map(Value::infer).collect()),
            Json::Object(_) => Value::Text(Cow::Owned(json.to_string())),
        }
    }
}

/// `T` of `list[T]`.
pub fn list_item_type(ty: &str) -> &str {
    ty.trim_end_matches('?')
        .strip_prefix("list[")
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or("_")
}

/// The item types of `(A, B, ...)`, split at top-level commas.
fn tuple_item_types(ty: &str) -> Vec<&str> {
    let Some(inner) = ty.strip_prefix('(').and_then(|t| t.strip_suffix(')')) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(inner[start..].trim());
    items
}

fn json_kind(json: &serde_json::Value) -> &'static str {
    match json {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl std::fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::None => f.write_str("none"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Text(t) => write!(f, "{t:?}"),
            Value::Box(b) => write!(f, "box({}, {}, {}, {})", b[0], b[1], b[2], b[3]),
            Value::List(items) | Value::Tuple(items) => {
                f.write_str(if matches!(self, Value::List(_)) {
                    "["
                } else {
                    "("
                })?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(if matches!(self, Value::List(_)) {
                    "]"
                } else {
                    ")"
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_their_declared_types() {
        let row: serde_json::Value =
            serde_json::from_str(r#"{"a": "x", "b": 3, "c": [1, 2, 3, 4], "d": null}"#).unwrap();
        assert_eq!(
            Value::from_json(&row["a"], "text").unwrap(),
            Value::Text("x".into())
        );
        assert_eq!(
            Value::from_json(&row["b"], "float").unwrap(),
            Value::Float(3.0)
        );
        assert_eq!(
            Value::from_json(&row["c"], "box").unwrap(),
            Value::Box([1.0, 2.0, 3.0, 4.0])
        );
        assert_eq!(Value::from_json(&row["d"], "text?").unwrap(), Value::None);
        assert!(Value::from_json(&row["a"], "int").is_err());
        assert_eq!(
            tuple_item_types("(float, (int, text))"),
            ["float", "(int, text)"]
        );
    }
}
