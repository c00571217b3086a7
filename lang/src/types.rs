//! The types of rlx values, and which values may stand where another type is expected.

use std::fmt;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Float,
    Int,
    Bool,
    Text,
    Image,
    BoundingBox,
    Enum(Vec<String>),
    List(Box<Type>),
    Tuple(Vec<Type>),
    Optional(Box<Type>),
    /// The rows of the named dataset.
    Row(String),
    Completion,
    Group,
    Schedule,
    Model,
    Dataset,
    Algorithm,
    Optimizer,
    Stage,
    Chat,
    Estimator,
    Aggregation,
    Baseline,
    Scaling,
    Function(Rc<Signature>),
    /// Not known here (an error already reported, or a value this checker does not look into):
    /// compatible with everything, so one mistake is reported once.
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    pub has_default: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    pub params: Vec<Parameter>,
    pub result: Type,
}

impl Type {
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Float | Type::Int | Type::Unknown)
    }

    /// Whether a value of type `self` may be used where `expected` is wanted: the same type, an
    /// `int` for a `float`, a number for a `schedule` (a constant), a `T` or `none` for a `T?`.
    pub fn fits(&self, expected: &Type) -> bool {
        match (self, expected) {
            (Type::Unknown, _) | (_, Type::Unknown) => true,
            (Type::Int, Type::Float) => true,
            (Type::Int | Type::Float, Type::Schedule) => true,
            (Type::Optional(inner), Type::Optional(wanted)) => inner.fits(wanted),
            (actual, Type::Optional(wanted)) => actual.fits(wanted),
            (Type::List(a), Type::List(b)) => a.fits(b),
            (Type::Tuple(a), Type::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.fits(y))
            }
            (Type::Enum(a), Type::Enum(b)) => a == b,
            (Type::Enum(_), Type::Text) => true,
            (a, b) => a == b,
        }
    }

    /// The type of a value that is either `a` or `b` (the branches of an `if`), if there is one.
    pub fn join(a: &Type, b: &Type) -> Option<Type> {
        match (a, b) {
            (Type::Unknown, other) | (other, Type::Unknown) => Some(other.clone()),
            (Type::Int, Type::Float) | (Type::Float, Type::Int) => Some(Type::Float),
            (Type::Optional(x), y) | (y, Type::Optional(x)) => {
                let inner = Type::join(x, y.strip_optional())?;
                Some(Type::Optional(Box::new(inner)))
            }
            (x, y) if x == y => Some(x.clone()),
            _ => None,
        }
    }

    fn strip_optional(&self) -> &Type {
        match self {
            Type::Optional(inner) => inner,
            other => other,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Float => f.write_str("float"),
            Type::Int => f.write_str("int"),
            Type::Bool => f.write_str("bool"),
            Type::Text => f.write_str("text"),
            Type::Image => f.write_str("image"),
            Type::BoundingBox => f.write_str("box"),
            Type::Enum(cases) => write!(f, "enum {{ {} }}", cases.join(", ")),
            Type::List(inner) => write!(f, "list[{inner}]"),
            Type::Tuple(items) => write!(
                f,
                "({})",
                items
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Type::Optional(inner) => write!(f, "{inner}?"),
            Type::Row(dataset) => write!(f, "{dataset}"),
            Type::Completion => f.write_str("completion"),
            Type::Group => f.write_str("group"),
            Type::Schedule => f.write_str("schedule"),
            Type::Model => f.write_str("model"),
            Type::Dataset => f.write_str("dataset"),
            Type::Algorithm => f.write_str("algorithm"),
            Type::Optimizer => f.write_str("optimizer"),
            Type::Stage => f.write_str("stage"),
            Type::Chat => f.write_str("chat"),
            Type::Estimator => f.write_str("estimator"),
            Type::Aggregation => f.write_str("aggregation"),
            Type::Baseline => f.write_str("baseline"),
            Type::Scaling => f.write_str("scaling"),
            Type::Function(signature) => write!(
                f,
                "fn({}) -> {}",
                signature
                    .params
                    .iter()
                    .map(|p| p.ty.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                signature.result
            ),
            Type::Unknown => f.write_str("_"),
        }
    }
}
