//! Property: on generated well-typed graphs and generated completions, compiled code computes what
//! the reference interpreter computes — the same bits for every root (NaN for NaN), or the same
//! error for the same completion.

use proptest::prelude::*;
use rlx_compiler::plan::{BinaryOperator, Graph, Node, NodeId, Op, StepVars, UnaryOperator, Value};
use rlx_reward::{Backend, Engine, Item, NoJudge};

/// A deterministic source of choices, from proptest's seed.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }
}

const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -2.5,
    0.5,
    3.0,
    1e300,
    f64::NAN,
    f64::INFINITY,
    -1e-9,
];
const INTS: &[i64] = &[0, 1, -1, 2, 7, -3, i64::MAX, i64::MIN, 40];
const TEXTS: &[&str] = &["3", "\\boxed{3}", "x", "", "<answer>1/2</answer>", "0.5"];

struct Builder {
    nodes: Vec<Node>,
}

impl Builder {
    fn add(&mut self, op: Op, inputs: Vec<NodeId>, ty: &str) -> NodeId {
        self.nodes.push(Node {
            op,
            inputs,
            ty: ty.to_string(),
        });
        (self.nodes.len() - 1) as NodeId
    }

    fn of(&self, choices: &mut Choices, ty: &str) -> Option<NodeId> {
        let found: Vec<NodeId> = (0..self.nodes.len() as NodeId)
            .filter(|&i| self.nodes[i as usize].ty == ty)
            .collect();
        (!found.is_empty()).then(|| *choices.pick(&found))
    }

    fn numeric(&self, choices: &mut Choices) -> Option<NodeId> {
        if choices.below(2) == 0 {
            self.of(choices, "float")
                .or_else(|| self.of(choices, "int"))
        } else {
            self.of(choices, "int")
                .or_else(|| self.of(choices, "float"))
        }
    }

    fn ty(&self, id: NodeId) -> &str {
        &self.nodes[id as usize].ty
    }
}

fn leaf(b: &mut Builder, choices: &mut Choices) {
    match choices.below(9) {
        0 => b.add(
            Op::Const {
                value: Value::Float(*choices.pick(FLOATS)),
            },
            vec![],
            "float",
        ),
        1 => b.add(
            Op::Const {
                value: Value::Int(*choices.pick(INTS)),
            },
            vec![],
            "int",
        ),
        2 => b.add(
            Op::Const {
                value: Value::Bool(choices.below(2) == 0),
            },
            vec![],
            "bool",
        ),
        3 => b.add(
            Op::Const {
                value: Value::Text(choices.pick(TEXTS).to_string()),
            },
            vec![],
            "text",
        ),
        4 => b.add(
            Op::Completion {
                field: (*choices.pick(&["text", "answer"])).into(),
            },
            vec![],
            "text",
        ),
        5 => b.add(
            Op::Completion {
                field: "tokens".into(),
            },
            vec![],
            "int",
        ),
        6 => {
            let (field, ty) = *choices.pick(&[
                ("x", "float"),
                ("n", "int"),
                ("s", "text"),
                ("flag", "bool"),
                ("maybe", "float?"),
            ]);
            b.add(
                Op::Row {
                    field: field.into(),
                },
                vec![],
                ty,
            )
        }
        7 => b.add(
            Op::Step {
                var: (*choices.pick(&["step", "progress"])).into(),
            },
            vec![],
            "int",
        ),
        _ => b.add(Op::Const { value: Value::None }, vec![], "float?"),
    };
    // Step variables have fixed types: repair the one just added.
    let last = b.nodes.len() - 1;
    if let Op::Step { var } = &b.nodes[last].op {
        b.nodes[last].ty = if var == "step" {
            "int".into()
        } else {
            "float".into()
        };
    }
}

/// Adds one node built from existing ones; false when the chosen shape has no inputs yet.
fn compound(b: &mut Builder, c: &mut Choices) -> bool {
    use BinaryOperator::*;
    let choice = c.below(14);
    match choice {
        0 | 1 => {
            let (Some(x), Some(y)) = (b.numeric(c), b.numeric(c)) else {
                return false;
            };
            let operator = *c.pick(&[Add, Sub, Mul, Div, Rem, Pow, Lt, Le, Gt, Ge, Eq, Ne]);
            let both_int = b.ty(x) == "int" && b.ty(y) == "int";
            let ty = match operator {
                Lt | Le | Gt | Ge | Eq | Ne => "bool",
                Div => "float",
                _ if both_int => "int",
                _ => "float",
            };
            b.add(Op::Binary { operator }, vec![x, y], ty)
        }
        2 => {
            let (Some(x), Some(y)) = (b.of(c, "bool"), b.of(c, "bool")) else {
                return false;
            };
            let operator = *c.pick(&[And, Or, Eq, Ne]);
            b.add(Op::Binary { operator }, vec![x, y], "bool")
        }
        3 => {
            let (Some(x), Some(y)) = (b.of(c, "text"), b.of(c, "text")) else {
                return false;
            };
            b.add(
                Op::Binary {
                    operator: *c.pick(&[Eq, Ne]),
                },
                vec![x, y],
                "bool",
            )
        }
        4 => {
            let Some(x) = b.numeric(c) else { return false };
            let ty = b.ty(x).to_string();
            b.add(
                Op::Unary {
                    operator: UnaryOperator::Neg,
                },
                vec![x],
                &ty,
            )
        }
        5 => {
            let Some(x) = b.of(c, "bool") else {
                return false;
            };
            b.add(
                Op::Unary {
                    operator: UnaryOperator::Not,
                },
                vec![x],
                "bool",
            )
        }
        6 => {
            let Some(condition) = b.of(c, "bool") else {
                return false;
            };
            let ty = *c.pick(&["float", "int", "bool", "text", "float?"]);
            let pick = |b: &Builder, c: &mut Choices| match ty {
                "float" => b.numeric(c),
                other => b.of(c, other),
            };
            let (Some(x), Some(y)) = (pick(b, c), pick(b, c)) else {
                return false;
            };
            let ty = if ty == "float" && b.ty(x) == "int" && b.ty(y) == "int" {
                "int"
            } else {
                ty
            };
            b.add(Op::Select, vec![condition, x, y], ty)
        }
        7 => {
            let Some(x) = b.of(c, "float?") else {
                return false;
            };
            if c.below(2) == 0 {
                b.add(Op::IsSome, vec![x], "bool")
            } else {
                b.add(Op::Unwrap, vec![x], "float")
            }
        }
        8 => {
            let Some(x) = b.numeric(c) else { return false };
            let function = *c.pick(&["abs", "sqrt", "floor", "ceil", "exp", "log", "cos", "sin"]);
            b.add(
                Op::Call {
                    function: function.into(),
                },
                vec![x],
                "float",
            )
        }
        9 => {
            let (Some(x), Some(y), Some(z)) = (b.numeric(c), b.numeric(c), b.numeric(c)) else {
                return false;
            };
            match c.below(3) {
                0 => b.add(
                    Op::Call {
                        function: "min".into(),
                    },
                    vec![x, y],
                    "float",
                ),
                1 => b.add(
                    Op::Call {
                        function: "max".into(),
                    },
                    vec![x, y],
                    "float",
                ),
                _ => b.add(
                    Op::Call {
                        function: "clip".into(),
                    },
                    vec![x, y, z],
                    "float",
                ),
            }
        }
        10 => {
            let (Some(x), Some(y)) = (b.of(c, "text"), b.of(c, "text")) else {
                return false;
            };
            match c.below(4) {
                0 => b.add(
                    Op::Call {
                        function: "math_equiv".into(),
                    },
                    vec![x, y],
                    "bool",
                ),
                1 => b.add(
                    Op::Call {
                        function: "len".into(),
                    },
                    vec![x],
                    "int",
                ),
                2 => b.add(
                    Op::Call {
                        function: "parse_number".into(),
                    },
                    vec![x],
                    "float?",
                ),
                _ => b.add(
                    Op::Call {
                        function: "boxed".into(),
                    },
                    vec![x],
                    "text?",
                ),
            }
        }
        11 => {
            let Some(x) = b.of(c, "text?") else {
                return false;
            };
            if c.below(2) == 0 {
                b.add(Op::IsSome, vec![x], "bool")
            } else {
                b.add(Op::Unwrap, vec![x], "text")
            }
        }
        12 => {
            let stat = *c.pick(&[
                "mean",
                "std",
                "sum",
                "max",
                "min",
                "loo_mean",
                "pass_rate",
                "count",
            ]);
            let input = if c.below(2) == 0 {
                b.of(c, "bool")
            } else {
                b.numeric(c)
            };
            let Some(x) = input else { return false };
            let ty = if stat == "count" { "int" } else { "float" };
            b.add(Op::Group { stat: stat.into() }, vec![x], ty)
        }
        _ => {
            let stat = *c.pick(&["size", "min_length", "max_length", "mean_length"]);
            let ty = if stat == "mean_length" {
                "float"
            } else {
                "int"
            };
            b.add(Op::Group { stat: stat.into() }, vec![], ty)
        }
    };
    true
}

fn graph(seed: u64, size: usize) -> (Graph, Vec<NodeId>) {
    let mut c = Choices(seed | 1);
    let mut b = Builder { nodes: Vec::new() };
    for _ in 0..4 {
        leaf(&mut b, &mut c);
    }
    while b.nodes.len() < size {
        if c.below(4) == 0 || !compound(&mut b, &mut c) {
            leaf(&mut b, &mut c);
        }
    }
    let scalars: Vec<NodeId> = (0..b.nodes.len() as NodeId)
        .filter(|&i| matches!(b.ty(i), "float" | "int" | "bool"))
        .collect();
    let mut roots: Vec<NodeId> = scalars.iter().rev().take(3).copied().collect();
    if roots.is_empty() {
        roots.push(b.add(
            Op::Const {
                value: Value::Float(1.0),
            },
            vec![],
            "float",
        ));
    }
    (Graph { nodes: b.nodes }, roots)
}

fn rows(seed: u64) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut c = Choices(seed.rotate_left(17) | 1);
    (0..6)
        .map(|_| {
            let x = *c.pick(&[0.5, -1.0, 3.0, 1e10]);
            let maybe = if c.below(2) == 0 {
                serde_json::Value::Null
            } else {
                serde_json::json!(2.5)
            };
            serde_json::json!({
                "x": x,
                "n": *c.pick(&[0, 3, -7]),
                "s": *c.pick(TEXTS),
                "flag": c.below(2) == 0,
                "maybe": maybe,
            })
            .as_object()
            .cloned()
            .unwrap()
        })
        .collect()
}

fn same(
    a: &Result<Vec<f64>, rlx_reward::ScoreError>,
    b: &Result<Vec<f64>, rlx_reward::ScoreError>,
) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn compiled_code_agrees_with_the_interpreter(seed in any::<u64>(), size in 6usize..40) {
        let (graph, roots) = graph(seed, size);
        let rows = rows(seed);
        let texts = ["\\boxed{3}", "<think>a</think><answer>0.5</answer>", "x", "", "3", "<answer>1/2</answer>"];
        let items: Vec<Item> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| Item { text: texts[i], tokens: Some(10 * i as i64), truncated: Some(false), row, group: (i % 2) as u64 })
            .collect();
        let step = StepVars { step: 5, stage_step: 2, stage_steps: 8 };
        let interpreted = Engine::new(&graph, &roots, Backend::Interpreter, 1).expect("graph compiles");
        let compiled = Engine::new(&graph, &roots, Backend::Jit, 1).expect("graph compiles");
        let expected = interpreted.score(&items, step, &NoJudge);
        let actual = compiled.score(&items, step, &NoJudge);
        prop_assert!(same(&expected, &actual), "graph {:#?}\nroots {:?}\ninterpreter {:?}\njit {:?}", graph.nodes, roots, expected, actual);
    }
}

/// The generator is worth its salt: most graphs score without error (so values, not just errors,
/// are compared), and they exercise branches, group statistics and natives.
#[test]
fn generated_graphs_mostly_score() {
    let (mut scored, mut selects, mut groups, mut calls) = (0, 0, 0, 0);
    for seed in 1..=300u64 {
        let (graph, roots) = graph(seed * 7919, 30);
        let rows = rows(seed);
        let items: Vec<Item> = rows
            .iter()
            .map(|row| Item {
                text: "\\boxed{3}",
                tokens: Some(4),
                truncated: Some(false),
                row,
                group: 0,
            })
            .collect();
        let step = StepVars {
            step: 1,
            stage_step: 1,
            stage_steps: 4,
        };
        let engine = Engine::new(&graph, &roots, Backend::Jit, 1).unwrap();
        scored += usize::from(engine.score(&items, step, &NoJudge).is_ok());
        selects += graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Select))
            .count();
        groups += graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Group { .. }))
            .count();
        calls += graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Call { .. }))
            .count();
    }
    assert!(scored > 150, "only {scored} of 300 graphs scored");
    assert!(
        selects > 300 && groups > 300 && calls > 300,
        "{selects} {groups} {calls}"
    );
}
