//! The generated recipe the compiler's and the language server's benchmarks time.

/// A recipe of about `lines` lines in the style of the examples: datasets, rewards, algorithms and a
/// train block, with every construct of the language represented.
pub fn generated_recipe(lines: usize) -> String {
    let mut out = String::from(
        "use std::verify::{math_equiv, choice_equiv}\nuse std::format::think_answer\nuse std::schedule::warmup_cosine\n\n\
         model policy = tiny(hidden = 128, layers = 4)\n\n",
    );
    let mut block = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            r#"dataset data_{block} = jsonl("data/set_{block}.jsonl") {{
    problem: text
    answer:  text
    level:   int
    method:  enum {{ rule, model }} @field("reward")
    cot:     text? @field("refined_cot")
}} where ex.level >= 2 order by ex.level desc

prompt ask_{block}(ex: data_{block}) = chat {{
    system: """
        Think inside <think> </think>, then answer inside <answer> </answer>.
        """
    user: [ex.problem]
}}

/// Accuracy on set {block}.
reward accuracy_{block}(c: completion, ex: data_{block}) -> float =
    match ex.method {{
        rule => if math_equiv(c.answer, ex.answer) || choice_equiv(c.answer, ex.answer) {{ 1.0 }} else {{ 0.0 }},
        model => 0.5,
    }}

reward total_{block}(c: completion, ex: data_{block}) -> float = {{
    let fmt = if think_answer(c.text) {{ 1.0 }} else {{ 0.0 }};
    let scaled = min(1.0, max(0.0, accuracy_{block}(c, ex) * 0.9 + fmt * 0.1))
    scaled - 0.01 * (len(c.text) / 1000) ^ 2
}}

algorithm rl_{block} = grpo {{ group = 8, clip = (0.2, 0.28), kl = k3(beta = 0.01), aggregate = token_mean }}

"#
        ));
        block += 1;
    }
    out.push_str("train policy {\n    optimizer = adamw(lr = warmup_cosine(peak = 1e-6, warmup = 20), weight_decay = 0.01)\n");
    for b in 0..block {
        out.push_str(&format!(
            "    stage s{b} = rl {{ data = data_{b}, prompt = ask_{b}, reward = total_{b}, algorithm = rl_{b}, steps = 10, batch = 16, rollout {{ temperature = 1.0, max_tokens = 512 }} }}\n"
        ));
    }
    out.push_str("}\n");
    out
}
