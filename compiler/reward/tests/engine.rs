//! Rewards written in rlx, lowered by the compiler and scored by both walkers: the values are
//! checked by hand, and compiled code must agree with the interpreter on every one.

use std::path::Path;

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::lower::RewardGraph;
use rlx_compiler::plan::StepVars;
use rlx_reward::{Backend, Engine, Item, NoJudge};

fn lower(source: &str, reward: &str) -> RewardGraph {
    let (file, _) = driver::source_from_bytes("test.rlx".into(), source.as_bytes().to_vec());
    let analysis = driver::analyze_reward(
        &file,
        Path::new("."),
        CheckOptions { data: false },
        Some(reward),
    );
    let errors: Vec<_> = analysis
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    analysis.reward.expect("lowered").expect("a reward")
}

const STEP: StepVars = StepVars {
    step: 3,
    stage_step: 3,
    stage_steps: 10,
};

/// Scores `(text, tokens, row, group)` with both backends, checks they agree, returns the rewards
/// and the terms.
fn score(
    graph: &RewardGraph,
    completions: &[(&str, i64, serde_json::Value, u64)],
) -> Vec<Vec<f64>> {
    let mut roots = vec![graph.reward];
    roots.extend(graph.terms.iter().map(|t| t.node));
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = completions
        .iter()
        .map(|(_, _, row, _)| row.as_object().cloned().unwrap_or_default())
        .collect();
    let items: Vec<Item> = completions
        .iter()
        .zip(&rows)
        .map(|((text, tokens, _, group), row)| Item {
            text,
            tokens: Some(*tokens),
            truncated: Some(false),
            row,
            group: *group,
        })
        .collect();
    let mut results = Vec::new();
    for (backend, threads) in [
        (Backend::Interpreter, 1),
        (Backend::Jit, 1),
        (Backend::Jit, 2),
    ] {
        let engine = Engine::new(&graph.graph, &roots, backend, threads).expect("compiles");
        results.push(engine.score(&items, STEP, &NoJudge).expect("scores"));
    }
    assert_eq!(
        results[0], results[1],
        "the JIT disagrees with the interpreter"
    );
    assert_eq!(results[1], results[2], "threads change the result");
    results[0]
        .chunks(roots.len())
        .map(<[f64]>::to_vec)
        .collect()
}

const MATH: &str = r#"
use std::verify::math_equiv
use std::extract::boxed
use std::format::think_answer
use std::length::overlong_penalty

dataset math = jsonl("math.jsonl") {
    answer: text
}

reward accuracy(c: completion, ex: math) -> float =
    match boxed(c.text) {
        some(a) => if math_equiv(a, ex.answer) { 1.0 } else { 0.0 },
        none => 0.0,
    }

reward format(c: completion) -> float = if think_answer(c.text) { 1.0 } else { 0.0 }

reward overlong(c: completion) -> float = overlong_penalty(c.tokens, max = 100, cache = 20)

reward total(c: completion, ex: math) -> float = 0.9 * accuracy(c, ex) + 0.1 * format(c) + overlong(c)
"#;

#[test]
fn weighted_sum_of_accuracy_format_and_length() {
    let graph = lower(MATH, "total");
    let names: Vec<&str> = graph.terms.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["accuracy", "format", "overlong", "total"]);
    let row = serde_json::json!({"answer": "\\frac{1}{2}"});
    let scores = score(
        &graph,
        &[
            (
                "<think>x</think><answer>\\boxed{0.5}</answer>",
                10,
                row.clone(),
                0,
            ),
            (
                "<think>x</think><answer>\\boxed{3}</answer>",
                90,
                row.clone(),
                0,
            ),
            ("no box, no format", 200, row.clone(), 0),
        ],
    );
    assert_eq!(scores[0], [1.0, 1.0, 1.0, 0.0, 1.0]);
    assert!((scores[1][0] - (0.1 - 0.5)).abs() < 1e-12);
    assert_eq!(scores[2], [-1.0, 0.0, 0.0, -1.0, -1.0]);
}

#[test]
fn group_statistics_and_advantage_expressions() {
    let source = r#"
use std::verify::math_equiv
dataset math = jsonl("math.jsonl") { answer: text }
reward correct(c: completion, ex: math) -> float = if math_equiv(c.answer, ex.answer) { 1.0 } else { 0.0 }
reward relative(c: completion, ex: math, group: group) -> float =
    correct(c, ex) - group.mean(correct(c, ex))
reward short_correct(c: completion, ex: math, group: group) -> float =
    if correct(c, ex) > 0.0 && group.min_length(correct(c, ex) > 0.0) == c.tokens { 1.0 } else { 0.0 }
"#;
    let row = serde_json::json!({"answer": "4"});
    let completions = [
        ("<answer>4</answer>", 30, row.clone(), 1),
        ("<answer>5</answer>", 10, row.clone(), 1),
        ("<answer>4</answer>", 20, row.clone(), 2),
        ("<answer>4</answer>", 40, row.clone(), 1),
        ("<answer>5</answer>", 50, row.clone(), 2),
    ];
    let relative = score(&lower(source, "relative"), &completions);
    let group1 = 2.0 / 3.0;
    assert!((relative[0][0] - (1.0 - group1)).abs() < 1e-12);
    assert!((relative[1][0] + group1).abs() < 1e-12);
    assert_eq!(relative[2][0], 0.5);
    let shortest = score(&lower(source, "short_correct"), &completions);
    let firsts: Vec<f64> = shortest.iter().map(|s| s[0]).collect();
    assert_eq!(firsts, [1.0, 0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn regex_tags_and_boxes() {
    let source = r#"
use std::format::{regex_match, tags_in_order, tag_count}
use std::extract::{parse_box, answer_tag}
use std::verify::iou
dataset ground = jsonl("g.jsonl") { target: box }
reward structure(c: completion) -> float =
    if regex_match(c.text, "(?s)<observe>.*</observe>\\s*<think>.*</think>\\s*<answer>.*</answer>") { 1.0 } else { 0.0 }
reward ordered(c: completion) -> float =
    if tags_in_order(c.text, ["observe", "think", "answer"]) && tag_count(c.text, "answer") == 1 { 1.0 } else { 0.0 }
reward located(c: completion, ex: ground) -> float =
    match answer_tag(c.text) {
        some(a) => match parse_box(a) {
            some(b) => iou(b, ex.target),
            none => 0.0,
        },
        none => 0.0,
    }
reward total(c: completion, ex: ground) -> float = structure(c) + ordered(c) + located(c, ex)
"#;
    let row = serde_json::json!({"target": [0, 0, 2, 2]});
    let scores = score(
        &lower(source, "total"),
        &[
            (
                "<observe>o</observe>\n<think>t</think>\n<answer>[1, 1, 3, 3]</answer>",
                5,
                row.clone(),
                0,
            ),
            (
                "<think>t</think><observe>o</observe><answer>x</answer>",
                5,
                row.clone(),
                0,
            ),
        ],
    );
    assert!(
        (scores[0][0] - (2.0 + 1.0 / 7.0)).abs() < 1e-12,
        "{:?}",
        scores[0]
    );
    assert_eq!(scores[1][0], 0.0);
}

#[test]
fn errors_name_the_completion() {
    let graph = lower(MATH, "total");
    let roots = [graph.reward];
    let row = serde_json::Map::new();
    let items = [Item {
        text: "\\boxed{1}",
        tokens: Some(3),
        truncated: None,
        row: &row,
        group: 0,
    }];
    for backend in [Backend::Interpreter, Backend::Jit] {
        let engine = Engine::new(&graph.graph, &roots, backend, 1).unwrap();
        let error = engine.score(&items, STEP, &NoJudge).unwrap_err();
        assert_eq!(error.index, 0);
        assert!(
            error.message.contains("no field `answer`"),
            "{}",
            error.message
        );
    }
}

#[test]
fn untyped_row_fields_mix_with_numbers() {
    // A row field whose type the compiler could not know (`_`) chosen by an `if` typed `float`.
    use rlx_compiler::plan::{BinaryOperator, Graph, Node, Op, Value as Constant};
    let node = |op, inputs: Vec<u32>, ty: &str| Node {
        op,
        inputs,
        ty: ty.into(),
    };
    let graph = Graph {
        nodes: vec![
            node(
                Op::Completion {
                    field: "tokens".into(),
                },
                vec![],
                "int",
            ),
            node(
                Op::Const {
                    value: Constant::Int(3),
                },
                vec![],
                "int",
            ),
            node(
                Op::Binary {
                    operator: BinaryOperator::Gt,
                },
                vec![0, 1],
                "bool",
            ),
            node(
                Op::Row {
                    field: "score".into(),
                },
                vec![],
                "_",
            ),
            node(
                Op::Const {
                    value: Constant::Float(0.5),
                },
                vec![],
                "float",
            ),
            node(Op::Select, vec![2, 3, 4], "float"),
        ],
    };
    let rows = [
        serde_json::json!({"score": 0.25}),
        serde_json::json!({"score": 2}),
    ];
    let rows: Vec<_> = rows
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect();
    let items: Vec<Item> = rows
        .iter()
        .zip([5, 1])
        .map(|(row, tokens)| Item {
            text: "",
            tokens: Some(tokens),
            truncated: None,
            row,
            group: 0,
        })
        .collect();
    for backend in [Backend::Interpreter, Backend::Jit] {
        let engine = Engine::new(&graph, &[5], backend, 1).unwrap();
        assert_eq!(
            engine.score(&items, STEP, &NoJudge).unwrap(),
            [0.25, 0.5],
            "{backend:?}"
        );
    }
}
