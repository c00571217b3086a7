//! Synthetic visual reasoning tasks for `examples/vision` (and `examples/wethink`): 64×64 PNG
//! images of coloured shapes on a 4×4 grid of cells, or of a rendered digit, with questions of
//! five kinds, written as JSON Lines in WeThink's field layout (`problem`, `answer`, `image_path`,
//! `category`, `reward`, `refined_cot`).
//!
//! ```text
//! cargo run -p rlx-runtime --example make_vision_data -- [OUT] [--train N] [--test N] [--seed S]
//! ```
//!
//! Kinds: `count` (how many squares of a colour), `size` (is a shape big or small), `digit` (read a
//! digit), `spatial` (is a shape in the left or the right half) — checked by rule — and `colour`
//! (the colour of the larger of two shapes), whose answers are free-form and go to a judge
//! (`"reward": "model"`). Counted shapes are all squares and digits sit at the centre: a
//! from-scratch `tiny_vl` learns those within a CPU cold start, mixed shapes and shifted digits
//! far more slowly (docs/runtime.md, "What shaped `examples/vision`"). Deterministic for a seed;
//! train and test images are drawn from one generator, so the splits differ (and the test rows
//! depend on `--train`).

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde_json::json;

const SIDE: u32 = 64;
const CELL: u32 = 16;
const COLOURS: [(&str, [u8; 3]); 4] = [
    ("red", [220, 40, 40]),
    ("green", [40, 170, 60]),
    ("blue", [40, 80, 220]),
    ("yellow", [230, 200, 30]),
];
const BACKGROUND: [u8; 3] = [245, 245, 240];

/// 3×5 bitmaps of the digits, a row per string.
const DIGITS: [[&str; 5]; 10] = [
    ["###", "#.#", "#.#", "#.#", "###"],
    [".#.", "##.", ".#.", ".#.", "###"],
    ["###", "..#", "###", "#..", "###"],
    ["###", "..#", "###", "..#", "###"],
    ["#.#", "#.#", "###", "..#", "..#"],
    ["###", "#..", "###", "..#", "###"],
    ["###", "#..", "###", "#.#", "###"],
    ["###", "..#", ".#.", ".#.", ".#."],
    ["###", "#.#", "###", "#.#", "###"],
    ["###", "#.#", "###", "..#", "###"],
];

/// The runtime's seedable generator (SplitMix64: the same numbers everywhere), with the two draws
/// the tasks need.
struct Rng(rlx_runtime::sample::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    /// `k` distinct values below `n`.
    fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Square,
    Circle,
    Triangle,
}

/// A shape of `size` pixels centred in grid cell `cell` (0..16, row-major).
fn draw(image: &mut RgbImage, cell: usize, shape: Shape, size: u32, colour: [u8; 3]) {
    let (cx, cy) = (
        (cell % 4) as u32 * CELL + CELL / 2,
        (cell / 4) as u32 * CELL + CELL / 2,
    );
    let half = size as i64 / 2;
    for dy in -half..=half {
        for dx in -half..=half {
            let inside = match shape {
                Shape::Square => true,
                Shape::Circle => dx * dx + dy * dy <= half * half,
                // Apex up: the row's half-width grows from the top.
                Shape::Triangle => 2 * dx.abs() <= dy + half,
            };
            if inside {
                let (x, y) = (cx as i64 + dx, cy as i64 + dy);
                if (0..SIDE as i64).contains(&x) && (0..SIDE as i64).contains(&y) {
                    image.put_pixel(x as u32, y as u32, Rgb(colour));
                }
            }
        }
    }
}

fn blank() -> RgbImage {
    RgbImage::from_pixel(SIDE, SIDE, Rgb(BACKGROUND))
}

fn any_shape(rng: &mut Rng) -> Shape {
    [Shape::Square, Shape::Circle, Shape::Triangle][rng.below(3)]
}

/// One task: the image, the question, the answer, the kind, how it is checked, a worked answer.
struct Task {
    image: RgbImage,
    problem: String,
    answer: String,
    category: &'static str,
    reward: &'static str,
    cot: String,
}

fn count_task(rng: &mut Rng) -> Task {
    let mut image = blank();
    let colour = rng.below(COLOURS.len());
    let count = 1 + rng.below(5);
    for cell in rng.distinct(16, count) {
        draw(&mut image, cell, Shape::Square, 9, COLOURS[colour].1);
    }
    let name = COLOURS[colour].0;
    Task {
        image,
        problem: format!("How many {name} shapes?"),
        answer: count.to_string(),
        category: "count",
        reward: "rule",
        cot: format!("{count} {name}"),
    }
}

fn size_task(rng: &mut Rng) -> Task {
    let mut image = blank();
    let colour = rng.below(COLOURS.len());
    let big = rng.below(2) == 0;
    let size = if big { 13 } else { 5 };
    draw(
        &mut image,
        rng.below(16),
        any_shape(rng),
        size,
        COLOURS[colour].1,
    );
    let name = COLOURS[colour].0;
    let answer = if big { "big" } else { "small" };
    Task {
        image,
        problem: format!("Is the {name} shape big or small?"),
        answer: answer.into(),
        category: "size",
        reward: "rule",
        cot: format!("{name} {answer}"),
    }
}

fn digit_task(rng: &mut Rng) -> Task {
    let mut image = blank();
    let digit = rng.below(10);
    let scale = 8;
    let colour = COLOURS[rng.below(COLOURS.len())].1;
    let (left, top) = ((SIDE - 3 * scale) / 2, (SIDE - 5 * scale) / 2);
    for (row, bits) in DIGITS[digit].iter().enumerate() {
        for (column, bit) in bits.chars().enumerate() {
            if bit == '#' {
                for y in 0..scale {
                    for x in 0..scale {
                        let px = left + column as u32 * scale + x;
                        let py = top + row as u32 * scale + y;
                        image.put_pixel(px, py, Rgb(colour));
                    }
                }
            }
        }
    }
    Task {
        image,
        problem: "What digit is shown?".into(),
        answer: digit.to_string(),
        category: "digit",
        reward: "rule",
        cot: format!("digit {digit}"),
    }
}

fn spatial_task(rng: &mut Rng) -> Task {
    let mut image = blank();
    let colour = rng.below(COLOURS.len());
    let column = rng.below(4);
    draw(
        &mut image,
        rng.below(4) * 4 + column,
        any_shape(rng),
        9,
        COLOURS[colour].1,
    );
    let name = COLOURS[colour].0;
    let side = if column < 2 { "left" } else { "right" };
    Task {
        image,
        problem: format!("Is the {name} shape on the left or the right?"),
        answer: side.into(),
        category: "spatial",
        reward: "rule",
        cot: format!("{name} {side}"),
    }
}

fn colour_task(rng: &mut Rng) -> Task {
    let mut image = blank();
    let cells = rng.distinct(16, 2);
    let colours = rng.distinct(COLOURS.len(), 2);
    draw(
        &mut image,
        cells[0],
        any_shape(rng),
        13,
        COLOURS[colours[0]].1,
    );
    draw(
        &mut image,
        cells[1],
        any_shape(rng),
        5,
        COLOURS[colours[1]].1,
    );
    let name = COLOURS[colours[0]].0;
    Task {
        image,
        problem: "What colour is the largest shape?".into(),
        answer: name.into(),
        category: "colour",
        reward: "model",
        cot: format!("big {name}"),
    }
}

fn task(rng: &mut Rng) -> Task {
    match rng.below(5) {
        0 => count_task(rng),
        1 => size_task(rng),
        2 => digit_task(rng),
        3 => spatial_task(rng),
        _ => colour_task(rng),
    }
}

fn write_split(
    out: &Path,
    split: &str,
    rows: usize,
    rng: &mut Rng,
) -> Result<(), Box<dyn std::error::Error>> {
    let images = out.join("images");
    std::fs::create_dir_all(&images)?;
    let partial = out.join(format!("{split}.jsonl.partial"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    for index in 0..rows {
        let task = task(rng);
        let name = format!("images/{split}-{index:04}.png");
        task.image.save(out.join(&name))?;
        let row = json!({
            "problem": task.problem,
            "answer": task.answer,
            "image_path": name,
            "category": task.category,
            "reward": task.reward,
            "refined_cot": format!("<think>{}</think><answer>{}</answer>", task.cot, task.answer),
        });
        writeln!(file, "{row}")?;
    }
    file.flush()?;
    drop(file);
    std::fs::rename(&partial, out.join(format!("{split}.jsonl")))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = PathBuf::from("examples/vision/data");
    let (mut train, mut test, mut seed) = (12_000usize, 500usize, 7u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> Result<u64, Box<dyn std::error::Error>> {
            let value = args.next().ok_or(format!("`{arg}` needs a value"))?;
            Ok(value.parse()?)
        };
        match arg.as_str() {
            "--train" => train = number()? as usize,
            "--test" => test = number()? as usize,
            "--seed" => seed = number()?,
            other if !other.starts_with("--") => out = PathBuf::from(other),
            other => return Err(format!("unknown option `{other}`").into()),
        }
    }
    let mut rng = Rng(rlx_runtime::sample::Rng(seed));
    write_split(&out, "train", train, &mut rng)?;
    write_split(&out, "test", test, &mut rng)?;
    println!(
        "wrote {train} training and {test} test rows with their images to {}",
        out.display()
    );
    Ok(())
}
