//! One GRPO step of a fixed tiny configuration (hidden 128, 4 layers, 4 heads, 2 KV heads, FFN 512,
//! group 8, 32 completion tokens, 8 prompts: 64 completions), timed through the real training
//! loop: rollout, reward and train seconds per step and tokens per second, averaged over the steps
//! after the first. With `python3` and TRL installed, the same configuration is run through TRL's
//! GRPOTrainer (scripts/trl_step_bench.py) and the ratio printed.
//!
//!     cargo bench -p rlx-runtime --bench step
//!     RLX_BENCH_STEPS=6 RLX_BENCH_TRL=0 cargo bench -p rlx-runtime --bench step

use std::path::Path;
use std::process::Command;

use rlx_compiler::driver::{self, CheckOptions};
use rlx_runtime::device::Cpu;
use rlx_runtime::train::{RunOptions, run};

const RECIPE: &str = r#"
dataset prompts = jsonl("prompts.jsonl") { question: text }
model policy = tiny(hidden = 128, layers = 4, heads = 4, kv_heads = 2, ffn = 512, vocab = 512)
prompt ask(ex: prompts) = chat { user: ex.question }
reward short(c: completion) -> float = 1.0 / (1.0 + len(c.text))
train policy {
    optimizer = adamw(lr = constant(1e-5))
    seed = 1
    stage bench = rl {
        data = prompts
        prompt = ask
        reward = short
        algorithm = grpo(group = 8)
        steps = STEPS
        batch = 64
        rollout { temperature = 1.0, max_tokens = 32 }
    }
}
"#;

fn main() {
    let steps: usize = std::env::var("RLX_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let dir = std::env::temp_dir().join(format!("rlx-step-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rows: String = (0..64)
        .map(|i| {
            format!(
                "{{\"question\": \"What is {i} plus {}? Think.\"}}\n",
                i * 7 % 50
            )
        })
        .collect();
    std::fs::write(dir.join("prompts.jsonl"), rows).unwrap();
    let text = RECIPE.replace("STEPS", &steps.to_string());
    let text = format!("use std::schedule::constant\n{text}");
    let path = dir.join("bench.rlx");
    std::fs::write(&path, &text).unwrap();
    let (file, _) = driver::read_file(&path).unwrap();
    let analysis = driver::analyze(&file, &dir, CheckOptions::default());
    let plan = analysis
        .plan
        .unwrap_or_else(|| panic!("{:?}", analysis.diagnostics));
    let options = RunOptions {
        save_every: 0,
        micro_batch: 64,
        ..RunOptions::new(dir.join("out"))
    };
    let started = std::time::Instant::now();
    run::<Cpu>(&plan, &options, &Default::default(), &mut |_| {}).unwrap();
    let wall = started.elapsed().as_secs_f64();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("out/metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let measured = &lines[1.min(lines.len() - 1)..];
    let avg = |key: &str| {
        measured
            .iter()
            .map(|l| l[key].as_f64().unwrap())
            .sum::<f64>()
            / measured.len() as f64
    };
    let (rollout, reward, train) = (
        avg("time/rollout_s"),
        avg("time/reward_s"),
        avg("time/train_s"),
    );
    let tokens = avg("tokens/generated");
    let step = rollout + reward + train;
    println!(
        "GRPO step, tiny config (hidden 128, 4 layers, 4/2 heads, FFN 512, vocab 512), 8 prompts x group 8, 32 tokens"
    );
    println!("rlx ({steps} steps, first excluded; {wall:.1} s in all)");
    println!(
        "  rollout {rollout:.3} s   reward {reward:.4} s   train {train:.3} s   step {step:.3} s"
    );
    println!(
        "  rollout {:.0} tokens/s   train {:.0} tokens/s",
        tokens / rollout,
        tokens / train
    );
    let _ = std::fs::remove_dir_all(&dir);
    if std::env::var("RLX_BENCH_TRL").as_deref() == Ok("0") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/trl_step_bench.py");
    match Command::new("python3")
        .arg(&script)
        .arg(steps.to_string())
        .output()
    {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            // TRL logs a dictionary per step on stdout; the summary is the last two lines.
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(2)..] {
                println!("{line}");
            }
            if let Some(trl_step) = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("step_s "))
                .and_then(|v| v.trim().parse::<f64>().ok())
            {
                println!("rlx is {:.2}x faster per step than TRL", trl_step / step);
            }
        }
        Ok(output) => println!(
            "TRL not measured: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(error) => println!("TRL not measured: {error}"),
    }
}
