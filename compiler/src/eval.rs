//! Evaluation of the pure part of a plan graph: arithmetic, comparisons, selection and the math
//! functions of the prelude. The lowering folds constants with it, and schedules are evaluated
//! with it at each step. Verifiers, judges and group statistics are the reward engine's.

use crate::plan::{BinaryOperator, EvalError, Graph, NodeId, Op, StepVars, UnaryOperator, Value};

fn error(message: impl Into<String>) -> EvalError {
    EvalError {
        message: message.into(),
    }
}

/// The value of `op` applied to `inputs`, or `None` when `op` is not pure arithmetic (a verifier,
/// a completion field, a group statistic): those are left to run time.
pub fn fold(op: &Op, inputs: &[Value]) -> Option<Result<Value, EvalError>> {
    Some(match op {
        Op::Const { value } => Ok(value.clone()),
        Op::Unary { operator } => unary(*operator, &inputs[0]),
        Op::Binary { operator } => binary(*operator, &inputs[0], &inputs[1]),
        Op::Select => match &inputs[0] {
            Value::Bool(true) => Ok(inputs[1].clone()),
            Value::Bool(false) => Ok(inputs[2].clone()),
            other => Err(error(format!("a condition is {other}, not a bool"))),
        },
        Op::IsSome => Ok(Value::Bool(inputs[0] != Value::None)),
        Op::Unwrap => match &inputs[0] {
            Value::None => Err(error("`none` where a value was expected")),
            other => Ok(other.clone()),
        },
        Op::List => Ok(Value::List(inputs.to_vec())),
        Op::Tuple => Ok(Value::Tuple(inputs.to_vec())),
        Op::Index => index(&inputs[0], &inputs[1]),
        Op::Call { function } => return call(function, inputs),
        Op::Completion { .. }
        | Op::Row { .. }
        | Op::Step { .. }
        | Op::Judge { .. }
        | Op::Reply { .. }
        | Op::Group { .. } => return None,
    })
}

fn number(value: &Value) -> Result<f64, EvalError> {
    value
        .as_f64()
        .ok_or_else(|| error(format!("{value} is not a number")))
}

fn unary(operator: UnaryOperator, value: &Value) -> Result<Value, EvalError> {
    match (operator, value) {
        (UnaryOperator::Neg, Value::Int(v)) => Ok(Value::Int(v.wrapping_neg())),
        (UnaryOperator::Neg, Value::Float(v)) => Ok(Value::Float(-v)),
        (UnaryOperator::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (operator, value) => Err(error(format!("cannot apply {operator:?} to {value}"))),
    }
}

fn binary(operator: BinaryOperator, a: &Value, b: &Value) -> Result<Value, EvalError> {
    use BinaryOperator::*;
    match (operator, a, b) {
        (And, Value::Bool(x), Value::Bool(y)) => return Ok(Value::Bool(*x && *y)),
        (Or, Value::Bool(x), Value::Bool(y)) => return Ok(Value::Bool(*x || *y)),
        (Eq, _, _) if !both_numbers(a, b) => return Ok(Value::Bool(a == b)),
        (Ne, _, _) if !both_numbers(a, b) => return Ok(Value::Bool(a != b)),
        (Add, Value::Text(x), Value::Text(y)) => return Ok(Value::Text(format!("{x}{y}"))),
        _ => {}
    }
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        let int = match operator {
            Add => x.checked_add(y),
            Sub => x.checked_sub(y),
            Mul => x.checked_mul(y),
            Rem if y != 0 => Some(x.rem_euclid(y)),
            Pow if (0..=u32::MAX as i64).contains(&y) => x.checked_pow(y as u32),
            _ => None,
        };
        if let Some(v) = int {
            return Ok(Value::Int(v));
        }
    }
    let (x, y) = (number(a)?, number(b)?);
    Ok(match operator {
        Add => Value::Float(x + y),
        Sub => Value::Float(x - y),
        Mul => Value::Float(x * y),
        Div => Value::Float(x / y),
        Rem => Value::Float(x.rem_euclid(y)),
        Pow => Value::Float(x.powf(y)),
        Eq => Value::Bool(x == y),
        Ne => Value::Bool(x != y),
        Lt => Value::Bool(x < y),
        Le => Value::Bool(x <= y),
        Gt => Value::Bool(x > y),
        Ge => Value::Bool(x >= y),
        And | Or => {
            return Err(error(format!(
                "cannot apply `{}` to numbers",
                operator.symbol()
            )));
        }
    })
}

fn both_numbers(a: &Value, b: &Value) -> bool {
    a.as_f64().is_some() && b.as_f64().is_some()
}

fn index(list: &Value, at: &Value) -> Result<Value, EvalError> {
    let (Value::List(items), Value::Int(i)) = (list, at) else {
        return Err(error(format!("cannot index {list} with {at}")));
    };
    usize::try_from(*i)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or_else(|| error(format!("index {i} is outside a list of {}", items.len())))
}

/// The prelude's math functions and `piecewise`.
fn call(function: &str, inputs: &[Value]) -> Option<Result<Value, EvalError>> {
    let unary = |f: fn(f64) -> f64| Some(number(&inputs[0]).map(|x| Value::Float(f(x))));
    match function {
        "abs" => unary(f64::abs),
        "exp" => unary(f64::exp),
        "log" => unary(f64::ln),
        "cos" => unary(f64::cos),
        "sin" => unary(f64::sin),
        "sqrt" => unary(f64::sqrt),
        "floor" => unary(f64::floor),
        "ceil" => unary(f64::ceil),
        "min" | "max" => Some((|| {
            let (a, b) = (number(&inputs[0])?, number(&inputs[1])?);
            let pick_a = if function == "min" { a <= b } else { a >= b };
            Ok(if pick_a {
                inputs[0].clone()
            } else {
                inputs[1].clone()
            })
        })()),
        "clip" => Some((|| {
            let (x, low, high) = (
                number(&inputs[0])?,
                number(&inputs[1])?,
                number(&inputs[2])?,
            );
            Ok(Value::Float(x.max(low).min(high)))
        })()),
        "len" => match &inputs[0] {
            Value::Text(t) => Some(Ok(Value::Int(t.chars().count() as i64))),
            Value::List(items) => Some(Ok(Value::Int(items.len() as i64))),
            _ => None,
        },
        "piecewise" => Some(piecewise(inputs)),
        _ => None,
    }
}

/// `piecewise(boundaries, values, at)`: the lowering passes the stage step as a third input.
fn piecewise(inputs: &[Value]) -> Result<Value, EvalError> {
    let (Value::List(boundaries), Value::List(values)) = (&inputs[0], &inputs[1]) else {
        return Err(error("piecewise takes two lists"));
    };
    let at = number(
        inputs
            .get(2)
            .ok_or_else(|| error("piecewise needs the step"))?,
    )?;
    if values.len() != boundaries.len() + 1 {
        return Err(error(format!(
            "piecewise has {} boundaries, so it needs {} values, not {}",
            boundaries.len(),
            boundaries.len() + 1,
            values.len()
        )));
    }
    let piece = boundaries
        .iter()
        .take_while(|b| b.as_f64().is_some_and(|b| at >= b))
        .count();
    Ok(Value::Float(number(&values[piece])?))
}

/// Evaluates a graph whose inputs are step variables and constants.
pub fn eval_steps(graph: &Graph, output: NodeId, vars: StepVars) -> Result<Value, EvalError> {
    let mut values: Vec<Value> = Vec::with_capacity(output as usize + 1);
    for node in &graph.nodes[..=output as usize] {
        let inputs: Vec<Value> = node
            .inputs
            .iter()
            .map(|&i| values[i as usize].clone())
            .collect();
        let value = match &node.op {
            Op::Step { var } => match var.as_str() {
                "step" => Value::Int(vars.step as i64),
                "stage_step" => Value::Int(vars.stage_step as i64),
                "stage_steps" => Value::Int(vars.stage_steps as i64),
                "progress" => Value::Float(vars.progress()),
                other => return Err(error(format!("unknown step variable `{other}`"))),
            },
            op => match fold(op, &inputs) {
                Some(result) => result?,
                None => {
                    return Err(error(format!(
                        "a schedule cannot depend on {op:?}: only on the step"
                    )));
                }
            },
        };
        values.push(value);
    }
    Ok(values.pop().unwrap_or(Value::None))
}
