//! The parser builds the tree the source means: precedence, associativity, every construct's shape,
//! doc comments, and spans that nest (each node inside its parent, each child in source order).

use rlx_lang::ast::*;
use rlx_lang::{Span, parse};

/// A compact rendering of an expression: `(op lhs rhs)`, `(call f a b)`, `f.x`.
fn show(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::List(items) => {
            format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(" "))
        }
        ExprKind::Tuple(items) => format!(
            "(tuple {})",
            items.iter().map(show).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Paren(inner) => format!("({})", show(inner)),
        ExprKind::Unary { op, operand } => format!(
            "({} {})",
            if *op == UnaryOp::Neg { "neg" } else { "not" },
            show(operand)
        ),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), show(lhs), show(rhs))
        }
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(name) => format!("{}={}", name.name, show(&a.value)),
                    None => show(&a.value),
                })
                .collect();
            format!("(call {} {})", show(callee), args.join(" "))
        }
        ExprKind::Field { target, field } => format!("{}.{}", show(target), field.name),
        ExprKind::Index { target, index } => format!("{}[{}]", show(target), show(index)),
        ExprKind::BlockCall { callee, entries } => format!(
            "({} {{{}}})",
            callee.name,
            entries.iter().map(show_entry).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::If {
            condition,
            then_branch,
            else_branch,
        } => {
            format!(
                "(if {} {} {})",
                show(condition),
                show(then_branch),
                show(else_branch)
            )
        }
        ExprKind::Match { scrutinee, arms } => {
            format!(
                "(match {} {})",
                show(scrutinee),
                arms.iter()
                    .map(|a| format!("{}=>{}", show_pattern(&a.pattern), show(&a.body)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        ExprKind::Block { lets, result } => {
            let lets: Vec<String> = lets
                .iter()
                .map(|l| format!("let {}={}; ", l.name.name, show(&l.value)))
                .collect();
            format!("{{{}{}}}", lets.concat(), show(result))
        }
        ExprKind::Chat(turns) => format!(
            "(chat {})",
            turns
                .iter()
                .map(|t| format!("{}:{}", t.role.name, show(&t.content)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Mix(parts) => format!(
            "(mix {})",
            parts
                .iter()
                .map(|p| format!("{}:{}", p.dataset.name, show(&p.weight)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Error => "<error>".into(),
    }
}

fn show_entry(entry: &Entry) -> String {
    match &entry.kind {
        EntryKind::Setting { key, value } => format!("{}={}", key.name, show(value)),
        EntryKind::Block { key, entries } => format!(
            "{}{{{}}}",
            key.name,
            entries.iter().map(show_entry).collect::<Vec<_>>().join(" ")
        ),
        EntryKind::Stage { name, value } => format!("stage {}={}", name.name, show(value)),
        EntryKind::Error => "<error>".into(),
    }
}

fn show_pattern(pattern: &Pattern) -> String {
    match &pattern.kind {
        PatternKind::Wildcard => "_".into(),
        PatternKind::Case(name) => name.name.clone(),
        PatternKind::Constructor { name, bindings } => format!(
            "{}({})",
            name.name,
            bindings
                .iter()
                .map(|b| b.name.clone())
                .collect::<Vec<_>>()
                .join(",")
        ),
        PatternKind::Literal(expr) => show(expr),
        PatternKind::Or(alternatives) => alternatives
            .iter()
            .map(show_pattern)
            .collect::<Vec<_>>()
            .join("|"),
        PatternKind::Error => "<error>".into(),
    }
}

/// Parses `let x = SOURCE` and renders the value.
fn expr(source: &str) -> String {
    let parsed = parse(&format!("let x = {source}"));
    assert!(
        parsed.diagnostics.is_empty(),
        "{source}: {:?}",
        parsed.diagnostics
    );
    match &parsed.module.items[..] {
        [
            Item {
                kind: ItemKind::Let(decl),
                ..
            },
        ] => show(&decl.value),
        other => panic!("{source}: {other:?}"),
    }
}

#[test]
fn operators_bind_by_precedence() {
    assert_eq!(expr("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(expr("1 - 2 - 3"), "(- (- 1 2) 3)");
    assert_eq!(expr("2 ^ 3 ^ 2"), "(^ 2 (^ 3 2))");
    assert_eq!(expr("-x ^ 2"), "(neg (^ x 2))");
    assert_eq!(expr("a || b && c"), "(|| a (&& b c))");
    assert_eq!(expr("!a && b"), "(&& (not a) b)");
    assert_eq!(
        expr("0.9 * acc + 0.1 * fmt >= 0.5"),
        "(>= (+ (* 0.9 acc) (* 0.1 fmt)) 0.5)"
    );
    assert_eq!(expr("a % 2 == 0"), "(== (% a 2) 0)");
    assert_eq!(expr("(1 + 2) * 3"), "(* ((+ 1 2)) 3)");
    assert_eq!(expr("-f(x).y[0]"), "(neg (call f x).y[0])");
}

#[test]
fn literals_calls_and_collections() {
    assert_eq!(expr("1_000"), "1000");
    assert_eq!(expr("1e-6"), "1e-6");
    assert_eq!(expr(r#""a\tb""#), r#""a\tb""#);
    assert_eq!(expr("[1, 2, 3,]"), "[1 2 3]");
    assert_eq!(expr("(0.2, 0.28)"), "(tuple 0.2 0.28)");
    assert_eq!(expr("(1,)"), "(tuple 1)");
    assert_eq!(expr("()"), "(tuple )");
    assert_eq!(
        expr("judge.score(question = q, reference = r)"),
        "(call judge.score question=q reference=r)"
    );
    assert_eq!(expr("k3(beta = 0.01)"), "(call k3 beta=0.01)");
    assert_eq!(expr("none"), "none");
}

#[test]
fn control_flow_and_blocks() {
    assert_eq!(expr("if a { 1 } else { 2 }"), "(if a {1} {2})");
    assert_eq!(
        expr("if a { 1 } else if b { 2 } else { 3 }"),
        "(if a {1} (if b {2} {3}))"
    );
    // A name before `{` in an `if` head is the condition, not a settings block.
    assert_eq!(expr("if ready { x } else { y }"), "(if ready {x} {y})");
    assert_eq!(
        expr("{ let a = 1; let b = a * 2 \n a + b }"),
        "{let a=1; let b=(* a 2); (+ a b)}"
    );
    assert_eq!(
        expr("match m { rule | exact => 1.0, model => 0.5, _ => 0.0 }"),
        "(match m rule|exact=>1.0 model=>0.5 _=>0.0)"
    );
    assert_eq!(
        expr("match boxed(t) { some(a) => a, none => t }"),
        "(match (call boxed t) some(a)=>a none=>t)"
    );
    assert_eq!(
        expr("match n { -1 => 0, 2 => 1, \"x\" => 2 }"),
        r#"(match n -1=>0 2=>1 "x"=>2)"#
    );
}

#[test]
fn settings_blocks_chat_and_mix() {
    assert_eq!(
        expr("grpo { group = 8, clip = (0.2, 0.28)\n aggregate = token_mean }"),
        "(grpo {group=8 clip=(tuple 0.2 0.28) aggregate=token_mean})"
    );
    assert_eq!(
        expr("rl { data = d, reward = r, rollout { temperature = 1.0 } }"),
        "(rl {data=d reward=r rollout{temperature=1.0}})"
    );
    assert_eq!(
        expr("chat { system: \"s\"\n user: [ex.image, ex.q] }"),
        r#"(chat system:"s" user:[ex.image ex.q])"#
    );
    assert_eq!(expr("mix { a: 0.7, b: 0.3 }"), "(mix a:0.7 b:0.3)");
}

#[test]
fn items_have_their_parts() {
    let source = r#"
use std::verify::{math_equiv, choice_equiv as choice}
use std::format::think_answer as ta

/// Rows of the training set.
/// Two lines of docs.
dataset train = jsonl("t.jsonl") {
    answer: text
    cot:    text? @field("refined_cot")
    tags:   list[text]
    kind:   enum { a, b }
} where ex.level > 1 order by ex.level desc

model policy = tiny(hidden = 64)
prompt ask(ex: train) = chat { user: ex.answer }
reward r(c: completion, ex: train, w: float = 0.5) -> float = w
fn helper(x) = x
let beta: float = 0.01
algorithm rl = grpo { group = 8 }
extern fn native(x: int) -> bool
extern let step: int
@experimental
train policy {
    optimizer = adamw(lr = 1e-6)
    stage one = sft { data = train, target = ex.cot }
    stage two = rl { data = train }
}
"#;
    let parsed = parse(source);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let kinds: Vec<&str> = parsed.module.items.iter().map(Item::kind_name).collect();
    assert_eq!(
        kinds,
        [
            "import",
            "import",
            "dataset",
            "model",
            "prompt",
            "reward",
            "function",
            "constant",
            "algorithm",
            "function",
            "constant",
            "train block"
        ]
    );
    let items = &parsed.module.items;
    let ItemKind::Use(first) = &items[0].kind else {
        panic!()
    };
    assert_eq!(
        first
            .module
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["std", "verify"]
    );
    assert_eq!(first.names[1].local().name, "choice");
    let ItemKind::Use(second) = &items[1].kind else {
        panic!()
    };
    assert_eq!(
        (
            second.names[0].name.name.as_str(),
            second.names[0].local().name.as_str()
        ),
        ("think_answer", "ta")
    );

    let dataset = &items[2];
    assert_eq!(
        dataset.docs,
        ["Rows of the training set.", "Two lines of docs."]
    );
    let ItemKind::Dataset(d) = &dataset.kind else {
        panic!()
    };
    let schema = d.schema.as_ref().expect("schema");
    assert_eq!(schema.len(), 4);
    assert!(matches!(schema[1].ty.kind, TypeKind::Optional(_)));
    assert_eq!(schema[1].attributes[0].name.name, "field");
    assert!(
        matches!(&schema[2].ty.kind, TypeKind::Named { name, args } if name.name == "list" && args.len() == 1)
    );
    assert!(matches!(&schema[3].ty.kind, TypeKind::Enum(cases) if cases.len() == 2));
    assert!(matches!(
        &d.clauses[..],
        [
            DataClause::Where(_),
            DataClause::OrderBy {
                descending: true,
                ..
            }
        ]
    ));

    let ItemKind::Reward(reward) = &items[5].kind else {
        panic!()
    };
    assert_eq!(reward.params.len(), 3);
    assert!(reward.params[2].default.is_some());
    let ItemKind::Fn(helper) = &items[6].kind else {
        panic!()
    };
    assert!(helper.params[0].ty.is_none() && helper.result.is_none());
    let train = items.last().expect("train");
    assert_eq!(train.attributes[0].name.name, "experimental");
    let ItemKind::Train(t) = &train.kind else {
        panic!()
    };
    assert_eq!(t.model.name, "policy");
    assert_eq!(
        t.entries.iter().map(show_entry).collect::<Vec<_>>()[1],
        "stage one=(sft {data=train target=ex.cot})"
    );
}

#[test]
fn triple_quoted_prompts_are_dedented() {
    assert_eq!(
        expr("\"\"\"\n    Think.\n      Then answer.\n    \"\"\""),
        r#""Think.\n  Then answer.""#
    );
}

/// Collects (span, children spans) over the whole tree.
fn check_nesting(span: Span, children: &[Span], what: &str) {
    for child in children {
        assert!(
            span.start <= child.start && child.end <= span.end,
            "{what}: child {child:?} outside {span:?}"
        );
    }
    for pair in children.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "{what}: children out of order: {pair:?}"
        );
    }
}

fn walk_expr(expr: &Expr) {
    let children: Vec<&Expr> = match &expr.kind {
        ExprKind::List(items) | ExprKind::Tuple(items) => items.iter().collect(),
        ExprKind::Paren(inner) | ExprKind::Unary { operand: inner, .. } => vec![inner],
        ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        ExprKind::Call { callee, args } => std::iter::once(&**callee)
            .chain(args.iter().map(|a| &a.value))
            .collect(),
        ExprKind::Field { target, .. } => vec![target],
        ExprKind::Index { target, index } => vec![target, index],
        ExprKind::If {
            condition,
            then_branch,
            else_branch,
        } => vec![condition, then_branch, else_branch],
        ExprKind::Match { scrutinee, arms } => std::iter::once(&**scrutinee)
            .chain(arms.iter().map(|a| &a.body))
            .collect(),
        ExprKind::Block { lets, result } => lets
            .iter()
            .map(|l| &l.value)
            .chain(std::iter::once(&**result))
            .collect(),
        ExprKind::Chat(turns) => turns.iter().map(|t| &t.content).collect(),
        ExprKind::Mix(parts) => parts.iter().map(|p| &p.weight).collect(),
        ExprKind::BlockCall { entries, .. } => {
            walk_entries(expr.span, entries);
            Vec::new()
        }
        _ => Vec::new(),
    };
    check_nesting(
        expr.span,
        &children.iter().map(|c| c.span).collect::<Vec<_>>(),
        "expression",
    );
    children.into_iter().for_each(walk_expr);
}

fn walk_entries(parent: Span, entries: &[Entry]) {
    check_nesting(
        parent,
        &entries.iter().map(|e| e.span).collect::<Vec<_>>(),
        "entries",
    );
    for entry in entries {
        match &entry.kind {
            EntryKind::Setting { value, .. } | EntryKind::Stage { value, .. } => {
                check_nesting(entry.span, &[value.span], "entry");
                walk_expr(value);
            }
            EntryKind::Block { entries, .. } => walk_entries(entry.span, entries),
            EntryKind::Error => {}
        }
    }
}

#[test]
fn spans_nest_in_every_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut pending = vec![root];
    let mut checked = 0;
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("examples").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rlx") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("example");
            let parsed = parse(&source);
            check_nesting(
                Span::new(0, source.len()),
                &parsed
                    .module
                    .items
                    .iter()
                    .map(|i| i.span)
                    .collect::<Vec<_>>(),
                "items",
            );
            for item in &parsed.module.items {
                match &item.kind {
                    ItemKind::Dataset(d) => walk_expr(&d.source),
                    ItemKind::Model(v) | ItemKind::Algorithm(v) => walk_expr(&v.value),
                    ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) => {
                        walk_expr(&f.body)
                    }
                    ItemKind::Let(l) => walk_expr(&l.value),
                    ItemKind::Train(t) => walk_entries(item.span, &t.entries),
                    _ => {}
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 5);
}
