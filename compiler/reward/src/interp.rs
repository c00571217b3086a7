//! The reference interpreter: evaluates the nodes a pass needs, on demand, remembering each value
//! for the completion. Only the branch of an `if` that is taken, and the right of `&&`/`||` when it
//! decides, are evaluated, exactly as in compiled code. Kept simple on purpose: compiled code is
//! checked against it.

use rlx_compiler::plan::{BinaryOperator, NodeId, Op};

use crate::program::{Env, eval_node};
use crate::value::Value;

/// Evaluates `roots` for one completion into `out` (numbers; bools as 0 or 1). `memo` holds one
/// entry per node and keeps the values of earlier passes.
pub fn run<'a>(
    env: &Env<'_, 'a>,
    memo: &mut [Option<Value<'a>>],
    roots: &[NodeId],
    out: &mut [f64],
) -> Result<(), String> {
    for (slot, &root) in out.iter_mut().zip(roots) {
        let value = demand(env, memo, root)?;
        *slot = value
            .score()
            .ok_or_else(|| format!("the value {value} is not a number"))?;
    }
    Ok(())
}

/// The value of node `id` for one completion (its inputs evaluated on demand, as in `run`).
pub fn demand<'a>(
    env: &Env<'_, 'a>,
    memo: &mut [Option<Value<'a>>],
    id: NodeId,
) -> Result<Value<'a>, String> {
    if let Some(value) = &memo[id as usize] {
        return Ok(value.clone());
    }
    let node = &env.program.graph.nodes[id as usize];
    let value = match &node.op {
        Op::Select => {
            let taken = match demand(env, memo, node.inputs[0])? {
                Value::Bool(true) => node.inputs[1],
                Value::Bool(false) => node.inputs[2],
                other => return Err(format!("a condition is {other}, not a bool")),
            };
            let value = demand(env, memo, taken)?;
            crate::program::coerce(value, env.program.kinds[id as usize])
        }
        Op::Binary {
            operator: operator @ (BinaryOperator::And | BinaryOperator::Or),
        } => {
            let left = demand(env, memo, node.inputs[0])?;
            let decided = matches!(
                (operator, &left),
                (BinaryOperator::And, Value::Bool(false)) | (BinaryOperator::Or, Value::Bool(true))
            );
            if decided {
                left
            } else {
                let right = demand(env, memo, node.inputs[1])?;
                crate::program::binary(*operator, &left, &right)?
            }
        }
        _ => {
            let mut args = Vec::with_capacity(node.inputs.len());
            for &input in &node.inputs {
                args.push(demand(env, memo, input)?);
            }
            eval_node(env, id, &args)?
        }
    };
    memo[id as usize] = Some(value.clone());
    Ok(value)
}
