//! `rlxc explain`: the plan for people. Stages in order, every setting after preset expansion with
//! where its value came from, the reward graph node by node, schedules tabulated at a few steps,
//! tokens per step, and a memory estimate for the model being trained.

use std::fmt::Write;

use crate::plan::*;

/// The shape of a decoder, enough to count its parameters and its KV cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelShape {
    pub hidden: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub ffn: u64,
    pub vocab: u64,
    pub tied_embeddings: bool,
    /// Bytes per weight as loaded (4 for f32, 2 for bf16).
    pub dtype_bytes: u64,
}

impl ModelShape {
    /// Parameters of a Qwen2-style decoder: embeddings, attention with grouped KV heads and
    /// biased q/k/v projections, a gated MLP, RMS norms, and an output head unless tied.
    pub fn parameters(&self) -> u64 {
        let head_dim = self.hidden / self.heads.max(1);
        let kv = self.kv_heads * head_dim;
        let attention = 2 * self.hidden * self.hidden + 2 * self.hidden * kv + self.hidden + 2 * kv;
        let mlp = 3 * self.hidden * self.ffn;
        let layer = attention + mlp + 2 * self.hidden;
        let embeddings = self.vocab * self.hidden;
        let head = if self.tied_embeddings { 0 } else { embeddings };
        embeddings + self.layers * layer + self.hidden + head
    }

    /// Bytes of KV cache per token.
    pub fn kv_bytes_per_token(&self) -> u64 {
        let head_dim = self.hidden / self.heads.max(1);
        2 * self.layers * self.kv_heads * head_dim * self.dtype_bytes
    }

    /// The shape `tiny(...)` and `tiny_vl(...)` build, from their arguments in the plan.
    pub fn of_constructor(model: &ModelPlan) -> Option<ModelShape> {
        let int = |name: &str, default: u64| -> u64 {
            model
                .args
                .get(name)
                .and_then(Value::as_f64)
                .map_or(default, |v| v as u64)
        };
        match model.constructor.as_str() {
            "tiny" => Some(ModelShape {
                hidden: int("hidden", 128),
                layers: int("layers", 4),
                heads: int("heads", 4),
                kv_heads: int("kv_heads", 2),
                ffn: int("ffn", 512),
                vocab: int("vocab", 512),
                tied_embeddings: true,
                dtype_bytes: 4,
            }),
            "tiny_vl" => Some(ModelShape {
                hidden: int("hidden", 128),
                layers: int("layers", 4),
                heads: int("heads", 4),
                kv_heads: int("kv_heads", 2),
                ffn: int("ffn", 512),
                vocab: int("vocab", 266),
                tied_embeddings: true,
                dtype_bytes: 4,
            }),
            _ => None,
        }
    }

    /// The shape a Hugging Face `config.json` describes.
    pub fn of_config(config: &serde_json::Value, dtype: &str) -> Option<ModelShape> {
        let int = |key: &str| config.get(key).and_then(serde_json::Value::as_u64);
        let heads = int("num_attention_heads")?;
        Some(ModelShape {
            hidden: int("hidden_size")?,
            layers: int("num_hidden_layers")?,
            heads,
            kv_heads: int("num_key_value_heads").unwrap_or(heads),
            ffn: int("intermediate_size")?,
            vocab: int("vocab_size")?,
            tied_embeddings: config
                .get("tie_word_embeddings")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            dtype_bytes: if matches!(dtype, "bf16" | "f16") {
                2
            } else {
                4
            },
        })
    }
}

/// What is known about the policy's size: its shape, or why it is not known.
pub type PolicyShape = Result<ModelShape, String>;

/// The whole explanation.
pub fn explain(plan: &Plan, policy: &PolicyShape) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "recipe {} (plan version {}, seed {}, {} stage{})",
        plan.recipe,
        plan.version,
        plan.seed,
        plan.stages.len(),
        if plan.stages.len() == 1 { "" } else { "s" }
    );
    models(&mut out, plan, policy);
    datasets(&mut out, plan);
    optimizer(&mut out, plan);
    let mut first_step = 0;
    for (index, stage) in plan.stages.iter().enumerate() {
        self::stage(&mut out, plan, index, stage, first_step, policy);
        first_step += stage_steps(stage);
    }
    out
}

/// Optimizer steps a stage runs for (an SFT stage's depend on its data: counted as its epochs).
fn stage_steps(stage: &StagePlan) -> u64 {
    match &stage.kind {
        StageKind::Rl(rl) => rl.steps as u64,
        StageKind::Sft(sft) => sft.epochs as u64,
    }
}

fn models(out: &mut String, plan: &Plan, policy: &PolicyShape) {
    let _ = writeln!(out, "\nmodels");
    for model in &plan.models {
        let args: Vec<String> = model
            .args
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let role = if model.name == plan.policy {
            "  (trained)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} = {}({}){role}",
            model.name,
            model.constructor,
            args.join(", ")
        );
        if model.name == plan.policy {
            match policy {
                Ok(shape) => {
                    let _ = writeln!(
                        out,
                        "    {} parameters: hidden {}, {} layers, {} heads ({} KV), MLP {}, vocabulary {}",
                        count(shape.parameters()),
                        shape.hidden,
                        shape.layers,
                        shape.heads,
                        shape.kv_heads,
                        shape.ffn,
                        shape.vocab
                    );
                }
                Err(why) => {
                    let _ = writeln!(out, "    size unknown: {why}");
                }
            }
        }
    }
}

fn datasets(out: &mut String, plan: &Plan) {
    let _ = writeln!(out, "\ndatasets");
    for dataset in &plan.datasets {
        let source = match &dataset.source {
            DataSource::File { format, path } => format!("{format}({path:?})"),
            DataSource::Mix { parts } => format!(
                "mix {{ {} }}",
                parts
                    .iter()
                    .map(|(name, w)| format!("{name}: {}", round(*w)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let fields: Vec<String> = dataset
            .fields
            .iter()
            .map(|f| {
                if f.key == f.name {
                    format!("{}: {}", f.name, f.ty)
                } else {
                    format!("{}: {} (key {:?})", f.name, f.ty, f.key)
                }
            })
            .collect();
        let _ = writeln!(out, "  {} = {source}", dataset.name);
        if !fields.is_empty() {
            let _ = writeln!(out, "    fields: {}", fields.join(", "));
        }
        if let Some(filter) = dataset.filter {
            let _ = writeln!(out, "    where {}", expression(&dataset.graph, filter));
        }
        if let Some(order) = &dataset.order {
            let _ = writeln!(
                out,
                "    order by {}{}",
                expression(&dataset.graph, order.key),
                if order.descending { " desc" } else { "" }
            );
        }
    }
}

fn optimizer(out: &mut String, plan: &Plan) {
    let o = &plan.optimizer;
    let _ = writeln!(out, "\noptimizer {}", o.kind);
    let origin = |key: &str| {
        plan.origins
            .get(&format!("optimizer.{key}"))
            .map_or(String::new(), |o| o.to_string())
    };
    let rows = [
        ("lr", schedule_text(&o.lr)),
        ("weight_decay", round(o.weight_decay)),
        (
            "betas",
            format!("({}, {})", round(o.betas.0), round(o.betas.1)),
        ),
        ("eps", round(o.eps)),
        ("grad_clip", round(o.grad_clip)),
    ];
    for (key, value) in rows {
        setting(out, 2, key, &value, &origin(key));
    }
    if let Some(origin) = plan.origins.get("seed") {
        setting(out, 2, "seed", &plan.seed.to_string(), &origin.to_string());
    }
}

fn setting(out: &mut String, indent: usize, key: &str, value: &str, origin: &str) {
    let pad = " ".repeat(indent);
    if origin.is_empty() {
        let _ = writeln!(out, "{pad}{key:<18} {value}");
    } else {
        let _ = writeln!(out, "{pad}{key:<18} {value:<28} {origin}");
    }
}

fn stage(
    out: &mut String,
    plan: &Plan,
    index: usize,
    stage: &StagePlan,
    first_step: u64,
    policy: &PolicyShape,
) {
    let origin = |key: &str| {
        stage
            .origins
            .get(key)
            .map_or(String::new(), |o| o.to_string())
    };
    let kind = match &stage.kind {
        StageKind::Sft(_) => "sft",
        StageKind::Rl(_) => "rl",
    };
    let _ = writeln!(
        out,
        "\nstage {} `{}`: {kind} on `{}`",
        index + 1,
        stage.name,
        stage.data
    );
    let graph = &stage.graph;
    match &stage.kind {
        StageKind::Sft(sft) => {
            setting(
                out,
                2,
                "target",
                &expression(graph, sft.target),
                &origin("target"),
            );
            if let Some(prompt) = &sft.prompt {
                setting(out, 2, "prompt", &prompt.name, &origin("prompt"));
            }
            setting(out, 2, "epochs", &sft.epochs.to_string(), &origin("epochs"));
            setting(out, 2, "batch", &sft.batch.to_string(), &origin("batch"));
            if let Some(lr) = &stage.lr {
                setting(out, 2, "lr", &schedule_text(lr), &origin("lr"));
            }
            let _ = writeln!(
                out,
                "  per step: {} rows (prompt and target tokens depend on the data)",
                sft.batch
            );
            memory(out, policy, None, sft.batch as u64, 0);
        }
        StageKind::Rl(rl) => {
            setting(out, 2, "prompt", &rl.prompt.name, &origin("prompt"));
            setting(out, 2, "steps", &rl.steps.to_string(), &origin("steps"));
            setting(out, 2, "batch", &rl.batch.to_string(), &origin("batch"));
            setting(
                out,
                2,
                "minibatch",
                &rl.minibatch.to_string(),
                &origin("minibatch"),
            );
            setting(
                out,
                2,
                "shuffle",
                &rl.shuffle.to_string(),
                &origin("shuffle"),
            );
            if let Some(lr) = &stage.lr {
                setting(out, 2, "lr", &schedule_text(lr), &origin("lr"));
            }
            if let Some(filter) = rl.filter {
                setting(
                    out,
                    2,
                    "filter",
                    &expression(graph, filter),
                    &origin("filter"),
                );
            }
            let _ = writeln!(out, "  rollout");
            let r = &rl.rollout;
            let rows = [
                ("temperature", round(r.temperature)),
                ("top_p", round(r.top_p)),
                ("top_k", r.top_k.to_string()),
                ("max_tokens", r.max_tokens.to_string()),
                ("max_prompt", r.max_prompt.to_string()),
                ("stop", format!("{:?}", r.stop)),
            ];
            for (key, value) in rows {
                setting(out, 4, key, &value, &origin(&format!("rollout.{key}")));
            }
            algorithm(out, stage, rl);
            reward_graph(out, graph, rl);
            let prompts = rl.batch / rl.algorithm.group.max(1);
            let _ = writeln!(
                out,
                "  per step: {prompts} prompts × group {} = {} completions, at most {} generated tokens ({} × {})",
                rl.algorithm.group,
                rl.batch,
                count(rl.batch as u64 * r.max_tokens as u64),
                rl.batch,
                r.max_tokens
            );
            let reference = rl.algorithm.kl.is_some() || rl.algorithm.kl_reward.is_some();
            memory(
                out,
                policy,
                Some(reference),
                rl.batch as u64,
                r.max_tokens as u64,
            );
        }
    }
    schedules(out, plan, stage, first_step);
}

fn algorithm(out: &mut String, stage: &StagePlan, rl: &RlPlan) {
    let a = &rl.algorithm;
    let origin = |key: &str| {
        stage
            .origins
            .get(&format!("algorithm.{key}"))
            .map_or(String::new(), |o| o.to_string())
    };
    let _ = writeln!(out, "  algorithm {} (expanded)", a.preset);
    let kl = |kl: &Option<Kl>| match kl {
        None => "none".to_string(),
        Some(kl) => {
            let mut text =
                format!("{:?}(beta = {}", kl.estimator, schedule_text(&kl.beta)).to_lowercase();
            if let Some(weight) = kl.weight {
                text += &format!(", weight = {}", expression(&stage.graph, weight));
            }
            if let Some(aggregate) = kl.aggregate {
                text += &format!(", aggregate = {}", snake(&format!("{aggregate:?}")));
            }
            text + ")"
        }
    };
    let option = |v: Option<f64>| v.map_or("none".to_string(), round);
    let rows = [
        ("group", a.group.to_string()),
        (
            "clip",
            format!("({}, {})", round(a.clip_low), round(a.clip_high)),
        ),
        ("dual_clip", option(a.dual_clip)),
        ("sequence_ratio", a.sequence_ratio.to_string()),
        (
            "baseline",
            match a.baseline {
                Baseline::None => "no_baseline".into(),
                other => snake(&format!("{other:?}")),
            },
        ),
        (
            "scale",
            match a.scale {
                Scaling::None => "no_scaling".into(),
                other => snake(&format!("{other:?}")),
            },
        ),
        ("kl", kl(&a.kl)),
        ("kl_reward", kl(&a.kl_reward)),
        ("aggregate", snake(&format!("{:?}", a.aggregate))),
        ("norm_length", a.norm_length.to_string()),
        ("dynamic_sampling", a.dynamic_sampling.to_string()),
        ("epochs", a.epochs.to_string()),
        ("minibatch", a.minibatch.to_string()),
        (
            "advantage",
            a.advantage
                .map_or("none".to_string(), |n| expression(&stage.graph, n)),
        ),
        ("entropy", round(a.entropy)),
    ];
    for (key, value) in rows {
        setting(out, 4, key, &value, &origin(key));
    }
    if let Some(p) = &a.perception {
        let value = format!(
            "papo(gamma = {}, masked_entropy = {}, entropy = {}, patch = {}, prob = {})",
            schedule_text(&p.gamma),
            schedule_text(&p.masked_entropy),
            schedule_text(&p.entropy),
            p.patch,
            round(p.prob)
        );
        setting(out, 4, "perception", &value, &origin("perception"));
    }
}

fn reward_graph(out: &mut String, graph: &Graph, rl: &RlPlan) {
    let _ = writeln!(
        out,
        "  graph ({} nodes, shared sub-expressions computed once)",
        graph.nodes.len()
    );
    for (id, node) in graph.nodes.iter().enumerate() {
        let _ = writeln!(out, "    %{id:<3} = {:<48} : {}", node_text(node), node.ty);
    }
    let terms: Vec<String> = rl
        .terms
        .iter()
        .map(|t| format!("{} = %{}", t.name, t.node))
        .collect();
    let _ = writeln!(
        out,
        "    reward = %{}; terms: {}",
        rl.reward,
        terms.join(", ")
    );
    let parts: Vec<String> = rl
        .prompt
        .messages
        .iter()
        .map(|m| {
            let parts: Vec<String> = m.parts.iter().map(|p| format!("%{p}")).collect();
            format!("{}: [{}]", m.role, parts.join(", "))
        })
        .collect();
    let _ = writeln!(
        out,
        "    prompt `{}` = {}",
        rl.prompt.name,
        parts.join("; ")
    );
}

fn memory(
    out: &mut String,
    policy: &PolicyShape,
    reference: Option<bool>,
    sequences: u64,
    max_tokens: u64,
) {
    let Ok(shape) = policy else {
        return;
    };
    let p = shape.parameters();
    let weights = p * shape.dtype_bytes;
    let gradients = p * 4;
    let adam = 2 * p * 4;
    let reference_bytes = if reference == Some(true) { weights } else { 0 };
    let kv = sequences * max_tokens * shape.kv_bytes_per_token();
    let total = weights + gradients + adam + reference_bytes + kv;
    let mut parts = vec![
        format!("weights {}", bytes(weights)),
        format!("gradients {}", bytes(gradients)),
        format!("AdamW {}", bytes(adam)),
    ];
    if reference_bytes > 0 {
        parts.push(format!("reference model {}", bytes(reference_bytes)));
    }
    if kv > 0 {
        parts.push(format!(
            "KV cache {} ({sequences} × {max_tokens} tokens)",
            bytes(kv)
        ));
    }
    let _ = writeln!(
        out,
        "  memory: about {} = {} (activations not counted)",
        bytes(total),
        parts.join(" + ")
    );
}

fn schedules(out: &mut String, plan: &Plan, stage: &StagePlan, first_step: u64) {
    if matches!(stage.kind, StageKind::Sft(_)) {
        // Its step count is its rows over its batch, times its epochs: known only with the data.
        return;
    }
    let steps = stage_steps(stage);
    let mut named: Vec<(String, &Schedule)> = Vec::new();
    match &stage.lr {
        Some(lr) => named.push(("lr".into(), lr)),
        None => named.push(("lr".into(), &plan.optimizer.lr)),
    }
    if let StageKind::Rl(rl) = &stage.kind {
        if let Some(kl) = &rl.algorithm.kl {
            named.push(("kl.beta".into(), &kl.beta));
        }
        if let Some(kl) = &rl.algorithm.kl_reward {
            named.push(("kl_reward.beta".into(), &kl.beta));
        }
        if let Some(p) = &rl.algorithm.perception {
            named.push(("perception.gamma".into(), &p.gamma));
            named.push(("perception.masked_entropy".into(), &p.masked_entropy));
            named.push(("perception.entropy".into(), &p.entropy));
        }
    }
    if named.iter().all(|(_, s)| s.constant().is_some()) {
        return;
    }
    let points: Vec<u64> = {
        let mut points: Vec<u64> = [
            0,
            steps / 4,
            steps / 2,
            3 * steps / 4,
            steps.saturating_sub(1),
        ]
        .into_iter()
        .collect();
        points.dedup();
        points
    };
    let header: Vec<String> = points.iter().map(|s| format!("{s:>10}")).collect();
    let _ = writeln!(out, "  schedules at stage step {}", header.join(""));
    for (name, schedule) in named {
        let values: Vec<String> = points
            .iter()
            .map(|&s| {
                let at = StepVars {
                    step: first_step + s,
                    stage_step: s,
                    stage_steps: steps,
                };
                schedule
                    .at(at)
                    .map_or_else(|e| format!("({e})"), |v| format!("{v:>10.3e}"))
            })
            .collect();
        let _ = writeln!(out, "    {name:<27}{}", values.join(""));
    }
}

/// One node as `op(inputs)`.
fn node_text(node: &Node) -> String {
    let inputs: Vec<String> = node.inputs.iter().map(|i| format!("%{i}")).collect();
    match &node.op {
        Op::Const { value } => value.to_string(),
        Op::Completion { field } => format!("c.{field}"),
        Op::Row { field } => format!("ex.{field}"),
        Op::Step { var } => var.clone(),
        Op::Unary { operator } => format!(
            "{}{}",
            if *operator == UnaryOperator::Neg {
                "-"
            } else {
                "!"
            },
            inputs[0]
        ),
        Op::Binary { operator } => format!("{} {} {}", inputs[0], operator.symbol(), inputs[1]),
        Op::Select => format!("if {} then {} else {}", inputs[0], inputs[1], inputs[2]),
        Op::IsSome => format!("is_some({})", inputs[0]),
        Op::Unwrap => format!("unwrap({})", inputs[0]),
        Op::List => format!("[{}]", inputs.join(", ")),
        Op::Tuple => format!("({})", inputs.join(", ")),
        Op::Index => format!("{}[{}]", inputs[0], inputs[1]),
        Op::Call { function } => format!("{function}({})", inputs.join(", ")),
        Op::Judge { model, args } | Op::Reply { model, args } => format!(
            "{model}.{}({})",
            if matches!(node.op, Op::Judge { .. }) {
                "score"
            } else {
                "reply"
            },
            args.iter()
                .zip(&inputs)
                .map(|(a, i)| format!("{a} = {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Op::Group { stat } => format!("group.{stat}({})", inputs.join(", ")),
    }
}

fn precedence(op: &Op) -> u8 {
    match op {
        Op::Select => 0,
        Op::Binary { operator } => match operator {
            BinaryOperator::Or => 1,
            BinaryOperator::And => 2,
            BinaryOperator::Eq
            | BinaryOperator::Ne
            | BinaryOperator::Lt
            | BinaryOperator::Le
            | BinaryOperator::Gt
            | BinaryOperator::Ge => 3,
            BinaryOperator::Add | BinaryOperator::Sub => 4,
            BinaryOperator::Mul | BinaryOperator::Div | BinaryOperator::Rem => 5,
            BinaryOperator::Pow => 7,
        },
        Op::Unary { .. } => 6,
        _ => 8,
    }
}

/// A node as an expression in rlx syntax, its inputs expanded, parenthesised only where needed.
pub fn expression(graph: &Graph, id: NodeId) -> String {
    fn go(graph: &Graph, id: NodeId, depth: usize) -> String {
        let node = &graph.nodes[id as usize];
        if depth > 12 {
            return format!("%{id}");
        }
        let own = precedence(&node.op);
        let right_associative = matches!(
            node.op,
            Op::Binary {
                operator: BinaryOperator::Pow
            }
        );
        // The operand at `i` of an operator; `right` says which side, for associativity.
        let operand = |i: usize| {
            let child = node.inputs[i];
            let text = go(graph, child, depth + 1);
            let inner = precedence(&graph.nodes[child as usize].op);
            let same_side = if right_associative { i == 0 } else { i == 1 };
            if inner < own || (inner == own && same_side) {
                format!("({text})")
            } else {
                text
            }
        };
        let all = || {
            (0..node.inputs.len())
                .map(|i| go(graph, node.inputs[i], depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &node.op {
            Op::Unary { operator } => format!(
                "{}{}",
                if *operator == UnaryOperator::Neg {
                    "-"
                } else {
                    "!"
                },
                operand(0)
            ),
            Op::Binary { operator } => {
                format!("{} {} {}", operand(0), operator.symbol(), operand(1))
            }
            Op::Select => format!(
                "if {} {{ {} }} else {{ {} }}",
                go(graph, node.inputs[0], depth + 1),
                go(graph, node.inputs[1], depth + 1),
                go(graph, node.inputs[2], depth + 1)
            ),
            Op::IsSome => format!("is_some({})", all()),
            Op::Unwrap => go(graph, node.inputs[0], depth + 1),
            Op::List => format!("[{}]", all()),
            Op::Tuple => format!("({})", all()),
            Op::Index => format!("{}[{}]", operand(0), go(graph, node.inputs[1], depth + 1)),
            Op::Call { function } if function == "piecewise" => {
                let args: Vec<String> = (0..node.inputs.len().min(2))
                    .map(|i| go(graph, node.inputs[i], depth + 1))
                    .collect();
                format!("piecewise({})", args.join(", "))
            }
            Op::Call { function } => format!("{function}({})", all()),
            Op::Group { stat } => format!("group.{stat}({})", all()),
            _ => node_text(node),
        }
    }
    go(graph, id, 0)
}

fn schedule_text(schedule: &Schedule) -> String {
    match schedule.constant() {
        Some(v) => round(v),
        None => expression(&schedule.graph, schedule.output),
    }
}

fn round(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:e}")
    } else {
        let text = format!("{v:.6}");
        let text = text.trim_end_matches('0');
        text.strip_suffix('.')
            .map_or(text.to_string(), |t| format!("{t}.0"))
    }
}

fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (i, ch) in debug.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// 7.62 B, 494 M, 1.2 K
fn count(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} B", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} K", n / 1e3)
    } else {
        format!("{n}")
    }
}

fn bytes(n: u64) -> String {
    let n = n as f64;
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    if n >= GIB {
        format!("{:.1} GiB", n / GIB)
    } else {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen2_7b_has_its_published_parameter_count() {
        // Qwen2.5-7B's config.json: 7.62 B parameters.
        let config = serde_json::json!({
            "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
            "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
            "tie_word_embeddings": false
        });
        let shape = ModelShape::of_config(&config, "bf16").unwrap();
        let billions = shape.parameters() as f64 / 1e9;
        assert!((billions - 7.62).abs() < 0.01, "{billions}");
        // Qwen2.5-0.5B ties its embeddings: 0.49 B.
        let config = serde_json::json!({
            "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
            "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
            "tie_word_embeddings": true
        });
        let shape = ModelShape::of_config(&config, "bf16").unwrap();
        let billions = shape.parameters() as f64 / 1e9;
        assert!((billions - 0.494).abs() < 0.005, "{billions}");
    }
}
