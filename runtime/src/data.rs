//! Datasets at run time: every row of a plan's dataset read from its file (JSON Lines, JSON or
//! Parquet), renamed fields moved to their schema names, required fields checked, `where` applied
//! and `order by` sorted; mixes drawn from their parts by weight. Batches come from a cursor over
//! a seeded permutation per epoch, so a checkpoint stores two numbers to resume the data exactly.

use std::io::BufRead;
use std::path::Path;

use rlx_compiler::plan::{DataSource, DatasetPlan, Plan, StepVars};
use rlx_reward::{RowProgram, Value};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::sample::Rng;

pub type Row = Map<String, serde_json::Value>;

/// Reads every row of dataset `name` of the plan.
pub fn load(plan: &Plan, name: &str) -> Result<Vec<Row>, String> {
    load_nested(plan, name, 0)
}

fn load_nested(plan: &Plan, name: &str, depth: usize) -> Result<Vec<Row>, String> {
    let dataset = plan
        .datasets
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| format!("the plan has no dataset `{name}`"))?;
    if depth > plan.datasets.len() {
        return Err(format!("dataset `{name}` is a mix of itself"));
    }
    let mut rows = match &dataset.source {
        DataSource::File { format, path } => {
            let file = Path::new(&plan.base_dir).join(path);
            let rows = read_file(&file, format)?;
            let folder = file.parent().unwrap_or(Path::new("."));
            rename_and_check(dataset, rows, &file.display().to_string(), folder)?
        }
        DataSource::Mix { parts } => mix(plan, parts, depth)?,
    };
    select_and_order(dataset, &mut rows)?;
    if rows.is_empty() {
        return Err(format!("dataset `{name}` has no rows"));
    }
    Ok(rows)
}

fn read_file(file: &Path, format: &str) -> Result<Vec<Row>, String> {
    let shown = file.display().to_string();
    let object = |value: serde_json::Value, place: String| match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(format!("{place}: a row is a JSON object")),
    };
    match format {
        "jsonl" => {
            let reader = std::fs::File::open(file)
                .map(std::io::BufReader::new)
                .map_err(|e| format!("`{shown}`: cannot read: {e}"))?;
            let mut rows = Vec::new();
            for (index, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| format!("`{shown}`: cannot read: {e}"))?;
                if line.trim().is_empty() {
                    continue;
                }
                let value = serde_json::from_str(&line)
                    .map_err(|e| format!("{shown}:{}:{}: not JSON: {e}", index + 1, e.column()))?;
                rows.push(object(value, format!("{shown}:{}", index + 1))?);
            }
            Ok(rows)
        }
        "json" => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("`{shown}`: cannot read: {e}"))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{shown}:{}:{}: not JSON: {e}", e.line(), e.column()))?;
            let serde_json::Value::Array(items) = value else {
                return Err(format!("`{shown}`: a JSON dataset is an array of objects"));
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| object(v, format!("`{shown}` item {}", i + 1)))
                .collect()
        }
        "parquet" => read_parquet(file),
        other => Err(format!("`{shown}`: unknown format `{other}`")),
    }
}

fn read_parquet(file: &Path) -> Result<Vec<Row>, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let shown = file.display().to_string();
    let handle = std::fs::File::open(file).map_err(|e| format!("`{shown}`: cannot read: {e}"))?;
    let reader = SerializedFileReader::new(handle)
        .map_err(|e| format!("`{shown}`: not a readable Parquet file: {e}"))?;
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| format!("`{shown}`: cannot read rows: {e}"))?;
    let mut rows = Vec::new();
    for (index, row) in iter.enumerate() {
        let row = row.map_err(|e| format!("`{shown}` row {}: {e}", index + 1))?;
        match row.to_json_value() {
            serde_json::Value::Object(map) => rows.push(map),
            _ => return Err(format!("`{shown}` row {}: not a record", index + 1)),
        }
    }
    Ok(rows)
}

/// Moves `@field("key")` columns to their names and checks that required fields are present.
/// Renames fields to their schema names and checks that required ones are there; image paths,
/// relative to the data file, become paths the runtime can open.
fn rename_and_check(
    dataset: &DatasetPlan,
    rows: Vec<Row>,
    shown: &str,
    folder: &Path,
) -> Result<Vec<Row>, String> {
    if dataset.fields.is_empty() {
        return Ok(rows);
    }
    rows.into_iter()
        .enumerate()
        .map(|(index, mut row)| {
            for field in &dataset.fields {
                let value = row.remove(&field.key);
                let optional = field.ty.ends_with('?');
                match value {
                    Some(serde_json::Value::Null) | None if !optional => {
                        return Err(format!(
                            "`{shown}` row {}: field `{}` of dataset `{}` is missing",
                            index + 1,
                            field.key,
                            dataset.name
                        ));
                    }
                    Some(serde_json::Value::String(path))
                        if field.ty.trim_end_matches('?') == "image" =>
                    {
                        let full = folder.join(path).display().to_string();
                        row.insert(field.name.clone(), serde_json::Value::String(full));
                    }
                    Some(value) => {
                        row.insert(field.name.clone(), value);
                    }
                    None => {
                        row.insert(field.name.clone(), serde_json::Value::Null);
                    }
                }
            }
            Ok(row)
        })
        .collect()
}

/// An epoch of a mix: each part contributes its weight's share of the parts' total size,
/// cycling through its rows when it is smaller.
fn mix(plan: &Plan, parts: &[(String, f64)], depth: usize) -> Result<Vec<Row>, String> {
    let loaded: Vec<Vec<Row>> = parts
        .iter()
        .map(|(name, _)| load_nested(plan, name, depth + 1))
        .collect::<Result<_, _>>()?;
    let total: usize = loaded.iter().map(Vec::len).sum();
    let mut rows = Vec::with_capacity(total);
    for ((_, weight), part) in parts.iter().zip(&loaded) {
        let count = (weight * total as f64).round() as usize;
        rows.extend(part.iter().cycle().take(count).cloned());
    }
    Ok(rows)
}

fn select_and_order(dataset: &DatasetPlan, rows: &mut Vec<Row>) -> Result<(), String> {
    let step = StepVars {
        step: 0,
        stage_step: 0,
        stage_steps: 0,
    };
    if let Some(filter) = dataset.filter {
        let program = RowProgram::new(&dataset.graph, &[filter])
            .map_err(|e| format!("dataset `{}`: `where`: {}", dataset.name, e.message))?;
        let mut kept = Vec::with_capacity(rows.len());
        for (index, row) in rows.drain(..).enumerate() {
            let value = program.eval(&row, step).map_err(|e| {
                format!("dataset `{}` row {}: `where`: {e}", dataset.name, index + 1)
            })?;
            if matches!(value[0], Value::Bool(true)) {
                kept.push(row);
            }
        }
        *rows = kept;
    }
    if let Some(order) = &dataset.order {
        let program = RowProgram::new(&dataset.graph, &[order.key])
            .map_err(|e| format!("dataset `{}`: `order by`: {}", dataset.name, e.message))?;
        let mut keyed = Vec::with_capacity(rows.len());
        for (index, row) in rows.drain(..).enumerate() {
            let key = program.eval(&row, step).map_err(|e| {
                format!(
                    "dataset `{}` row {}: `order by`: {e}",
                    dataset.name,
                    index + 1
                )
            })?;
            keyed.push((key.into_iter().next().unwrap_or(Value::None), row));
        }
        keyed.sort_by(|(a, _), (b, _)| compare(a, b));
        if order.descending {
            keyed.reverse();
        }
        *rows = keyed.into_iter().map(|(_, row)| row).collect();
    }
    Ok(())
}

fn compare(a: &Value<'_>, b: &Value<'_>) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.text().unwrap_or("").cmp(b.text().unwrap_or("")),
    }
}

/// Where a stage is in its data: the epoch and the position in that epoch's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    pub position: usize,
}

/// Row indices for batches: a permutation per epoch from the seed, or the file's order.
#[derive(Clone, Debug)]
pub struct Sampler {
    rows: usize,
    shuffle: bool,
    seed: u64,
    pub cursor: Cursor,
    order: Vec<usize>,
}

impl Sampler {
    pub fn new(rows: usize, shuffle: bool, seed: u64, cursor: Cursor) -> Sampler {
        let mut sampler = Sampler {
            rows,
            shuffle,
            seed,
            cursor,
            order: Vec::new(),
        };
        sampler.order = sampler.epoch_order(cursor.epoch);
        sampler
    }

    fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.rows).collect();
        if self.shuffle {
            let mut rng = Rng(self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for i in (1..order.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        order
    }

    /// The next `count` rows, crossing into the next epoch when this one runs out.
    pub fn next(&mut self, count: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            if self.cursor.position >= self.rows {
                self.cursor = Cursor {
                    epoch: self.cursor.epoch + 1,
                    position: 0,
                };
                self.order = self.epoch_order(self.cursor.epoch);
            }
            out.push(self.order[self.cursor.position]);
            self.cursor.position += 1;
        }
        out
    }

    /// The next rows, at most `count` and none of the following epoch: an epoch's last batch is
    /// short (as PyTorch's `DataLoader` makes it), so an SFT epoch shows each example once.
    pub fn next_in_epoch(&mut self, count: usize) -> Vec<usize> {
        let left = if self.cursor.position >= self.rows {
            self.rows
        } else {
            self.rows - self.cursor.position
        };
        self.next(count.min(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_end_with_a_short_batch() {
        let mut sampler = Sampler::new(5, true, 3, Cursor::default());
        let first: Vec<Vec<usize>> = (0..2).map(|_| sampler.next_in_epoch(3)).collect();
        assert_eq!((first[0].len(), first[1].len()), (3, 2));
        let mut seen: Vec<usize> = first.concat();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4], "each row once per epoch");
        let second = sampler.next_in_epoch(3);
        assert_eq!((second.len(), sampler.cursor.epoch), (3, 1));
        assert_eq!(sampler.next_in_epoch(100).len(), 2);
    }

    #[test]
    fn a_bad_line_is_named_with_its_file_and_line() {
        let dir = std::env::temp_dir().join(format!("rlx-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rows.jsonl");
        std::fs::write(&file, "{\"a\": 1}\n\n[1, 2]\n").unwrap();
        let error = read_file(&file, "jsonl").unwrap_err();
        assert!(
            error.ends_with("rows.jsonl:3: a row is a JSON object"),
            "{error}"
        );
        std::fs::write(&file, "{\"a\": 1}\n{\"a\": \n").unwrap();
        let error = read_file(&file, "jsonl").unwrap_err();
        assert!(error.contains("rows.jsonl:2:"), "{error}");
        assert!(error.contains("not JSON"), "{error}");
    }

    #[test]
    fn sampler_resumes_from_its_cursor() {
        let mut a = Sampler::new(7, true, 3, Cursor::default());
        let first = a.next(5);
        let cursor = a.cursor;
        let rest = a.next(6);
        let mut b = Sampler::new(7, true, 3, cursor);
        assert_eq!(b.next(6), rest);
        // An epoch is a permutation of the rows.
        let mut epoch = first.clone();
        epoch.extend_from_slice(&rest[..2]);
        epoch.sort();
        assert_eq!(epoch, (0..7).collect::<Vec<_>>());
        assert_eq!(
            Sampler::new(4, false, 0, Cursor::default()).next(6),
            [0, 1, 2, 3, 0, 1]
        );
    }
}
