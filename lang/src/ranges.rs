//! Ranges of settings and arguments, and constant folding to check them before anything runs: a
//! learning rate is positive, a group has at least two completions, clip bounds lie in (0, 1).

use crate::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

/// A bound: the value and whether it is allowed itself.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    pub value: f64,
    pub inclusive: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub low: Option<Bound>,
    pub high: Option<Bound>,
}

const fn at_least(value: f64) -> Range {
    Range {
        low: Some(Bound {
            value,
            inclusive: true,
        }),
        high: None,
    }
}

const fn above(value: f64) -> Range {
    Range {
        low: Some(Bound {
            value,
            inclusive: false,
        }),
        high: None,
    }
}

const fn open_unit() -> Range {
    Range {
        low: Some(Bound {
            value: 0.0,
            inclusive: false,
        }),
        high: Some(Bound {
            value: 1.0,
            inclusive: false,
        }),
    }
}

/// (0, 1]: a probability mass such as `top_p`, or a fraction of a stage.
const fn positive_fraction() -> Range {
    Range {
        low: Some(Bound {
            value: 0.0,
            inclusive: false,
        }),
        high: Some(Bound {
            value: 1.0,
            inclusive: true,
        }),
    }
}

const PRESETS: &[&str] = &[
    "grpo",
    "dapo",
    "dr_grpo",
    "gspo",
    "rloo",
    "reinforce_pp",
    "policy_gradient",
];

/// The range of `function`'s parameter `param`, if it has one. Tuples (clip bounds, betas) are
/// checked element by element.
pub fn range_of(function: &str, param: &str) -> Option<Range> {
    if PRESETS.contains(&function) {
        return match param {
            "group" => Some(at_least(2.0)),
            "clip" => Some(open_unit()),
            "epochs" => Some(at_least(1.0)),
            "minibatch" | "entropy" | "max_tokens" | "norm_length" => Some(at_least(0.0)),
            "dual_clip" => Some(above(1.0)),
            _ => None,
        };
    }
    match (function, param) {
        ("k1" | "k2" | "k3", "beta") => Some(at_least(0.0)),
        ("adamw", "lr" | "eps" | "grad_clip") => Some(above(0.0)),
        ("adamw", "weight_decay") => Some(at_least(0.0)),
        ("adamw", "betas") => Some(Range {
            low: Some(Bound {
                value: 0.0,
                inclusive: true,
            }),
            high: Some(Bound {
                value: 1.0,
                inclusive: false,
            }),
        }),
        ("rl", "steps" | "batch") | ("sft", "epochs" | "batch") | ("eval", "every") => {
            Some(at_least(1.0))
        }
        ("rl", "minibatch") => Some(at_least(0.0)),
        ("rl" | "sft", "lr") => Some(above(0.0)),
        ("rollout", "temperature" | "top_k") => Some(at_least(0.0)),
        ("rollout", "top_p") => Some(positive_fraction()),
        ("rollout" | "eval", "max_tokens") => Some(at_least(1.0)),
        ("constant" | "cosine" | "warmup_cosine", "peak" | "value") => Some(above(0.0)),
        ("warmup_cosine", "warmup") => Some(at_least(0.0)),
        ("ramp", "fraction") => Some(positive_fraction()),
        ("numeric_close", "tolerance") => Some(at_least(0.0)),
        _ => None,
    }
}

impl Range {
    pub fn contains(&self, value: f64) -> bool {
        let low_ok = self.low.is_none_or(|b| {
            if b.inclusive {
                value >= b.value
            } else {
                value > b.value
            }
        });
        let high_ok = self.high.is_none_or(|b| {
            if b.inclusive {
                value <= b.value
            } else {
                value < b.value
            }
        });
        low_ok && high_ok
    }

    /// "at least 2", "in (0, 1)", "positive".
    pub fn describe(&self) -> String {
        let number = |v: f64| {
            if v.fract() == 0.0 {
                format!("{}", v as i64)
            } else {
                v.to_string()
            }
        };
        match (self.low, self.high) {
            (Some(low), None) if low.value == 0.0 && !low.inclusive => "positive".to_string(),
            (Some(low), None) if low.inclusive => format!("at least {}", number(low.value)),
            (Some(low), None) => format!("above {}", number(low.value)),
            (low, high) => format!(
                "in {}{}, {}{}",
                if low.is_some_and(|b| b.inclusive) {
                    "["
                } else {
                    "("
                },
                low.map_or("-∞".to_string(), |b| number(b.value)),
                high.map_or("∞".to_string(), |b| number(b.value)),
                if high.is_some_and(|b| b.inclusive) {
                    "]"
                } else {
                    ")"
                },
            ),
        }
    }
}

/// A constant value: a number, or a tuple of numbers.
#[derive(Clone, Debug, PartialEq)]
pub enum Constant {
    Number(f64),
    Tuple(Vec<Constant>),
}

/// Folds literals, signs, parentheses, tuples and arithmetic; `name` looks up constants by name.
pub fn fold(expr: &Expr, name: &mut dyn FnMut(&str) -> Option<Constant>) -> Option<Constant> {
    match &expr.kind {
        ExprKind::Int(v) => Some(Constant::Number(*v as f64)),
        ExprKind::Float(v) => Some(Constant::Number(*v)),
        ExprKind::Paren(inner) => fold(inner, name),
        ExprKind::Name(ident) => name(&ident.name),
        ExprKind::Tuple(items) => items
            .iter()
            .map(|i| fold(i, name))
            .collect::<Option<Vec<_>>>()
            .map(Constant::Tuple),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => match fold(operand, name)? {
            Constant::Number(v) => Some(Constant::Number(-v)),
            Constant::Tuple(_) => None,
        },
        ExprKind::Binary { op, lhs, rhs } => {
            let (Constant::Number(a), Constant::Number(b)) = (fold(lhs, name)?, fold(rhs, name)?)
            else {
                return None;
            };
            let value = match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                BinaryOp::Rem => a % b,
                BinaryOp::Pow => a.powf(b),
                _ => return None,
            };
            value.is_finite().then_some(Constant::Number(value))
        }
        _ => None,
    }
}
