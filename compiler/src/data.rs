//! Dataset contracts: the schema a `dataset` declares is checked against rows of its data file before
//! anything runs. Only a bounded sample is read — the first rows, then rows at evenly spaced offsets
//! through the file — so a file of any size checks in bounded time. Each problem is reported once
//! per field, at the field's declaration, naming the data file and the first row that shows it.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rlx_lang::ast::{DatasetDecl, ExprKind, Item, ItemKind, Module};
use rlx_lang::typeck::type_of_ast;
use rlx_lang::types::Type;
use rlx_lang::{Code, Diagnostic, Span};
use serde_json::Value;

/// Rows read from the start of a file, and rows sampled through the rest of it, at most; a recipe
/// with many datasets shares `RECIPE_ROWS` among them (but each gets at least `MIN_ROWS` of each).
const HEAD_ROWS: usize = 200;
const SAMPLED_ROWS: usize = 200;
const RECIPE_ROWS: usize = 8_000;
const MIN_ROWS: usize = 25;

/// How many rows one dataset's check reads.
#[derive(Clone, Copy)]
struct Budget {
    head: usize,
    sampled: usize,
}

impl Budget {
    fn for_recipe(datasets: usize) -> Budget {
        let share =
            (RECIPE_ROWS / (2 * datasets.max(1))).clamp(MIN_ROWS, HEAD_ROWS.max(SAMPLED_ROWS));
        Budget {
            head: share.min(HEAD_ROWS),
            sampled: share.min(SAMPLED_ROWS),
        }
    }
}
/// A `.json` file (one array) larger than this is not parsed.
const MAX_JSON_BYTES: u64 = 64 << 20;
/// A line longer than this is not read whole (a sampled row is skipped instead).
const MAX_LINE_BYTES: usize = 16 << 20;
/// Elements of a list field checked per row.
const MAX_LIST_ITEMS: usize = 100;

struct FieldSpec {
    name: String,
    /// The key in the data file (`@field("image_path")`, else the name).
    key: String,
    ty: Type,
    span: Span,
}

fn field_specs(decl: &DatasetDecl) -> Option<Vec<FieldSpec>> {
    let fields = decl.schema.as_ref()?;
    Some(
        fields
            .iter()
            .map(|field| {
                let renamed = field
                    .attributes
                    .iter()
                    .find(|a| a.name.name == "field")
                    .and_then(|a| match a.args.first().map(|arg| &arg.value.kind) {
                        Some(ExprKind::Str(key)) => Some(key.clone()),
                        _ => None,
                    });
                FieldSpec {
                    name: field.name.name.clone(),
                    key: renamed.unwrap_or_else(|| field.name.name.clone()),
                    ty: type_of_ast(&field.ty, &HashMap::new()),
                    span: field.span,
                }
            })
            .collect(),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    JsonLines,
    Json,
    Parquet,
}

/// The data file a dataset reads, when its source is `jsonl("...")`, `json("...")` or `parquet("...")`.
fn data_source(decl: &DatasetDecl) -> Option<(Format, String, Span)> {
    let ExprKind::Call { callee, args } = &decl.source.kind else {
        return None;
    };
    let ExprKind::Name(name) = &callee.kind else {
        return None;
    };
    let format = match name.name.as_str() {
        "jsonl" => Format::JsonLines,
        "json" => Format::Json,
        "parquet" => Format::Parquet,
        _ => return None,
    };
    let path = args.first()?;
    match &path.value.kind {
        ExprKind::Str(text) => Some((format, text.clone(), path.value.span)),
        _ => None,
    }
}

/// Where a row came from, for messages.
#[derive(Clone)]
enum RowPlace {
    Line(usize),
    Offset(u64),
    Index(usize),
}

impl RowPlace {
    fn describe(&self, file: &str) -> String {
        match self {
            RowPlace::Line(line) => format!("`{file}` line {line}"),
            RowPlace::Offset(offset) => format!("`{file}`, the row after byte {offset}"),
            RowPlace::Index(index) => format!("`{file}` row {index}"),
        }
    }
}

struct Sample {
    rows: Vec<(RowPlace, Value)>,
    diagnostics: Vec<Diagnostic>,
}

fn read_jsonl(path: &Path, shown: &str, span: Span, budget: Budget) -> std::io::Result<Sample> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let mut sample = Sample {
        rows: Vec::new(),
        diagnostics: Vec::new(),
    };
    let mut line = Vec::new();
    let mut line_number = 0;
    let mut consumed: u64 = 0;
    while sample.rows.len() < budget.head {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(sample);
        }
        consumed += read as u64;
        line_number += 1;
        parse_row(&line, RowPlace::Line(line_number), shown, span, &mut sample);
    }
    // The rest of the file: rows at evenly spaced offsets.
    if consumed < size {
        let step = (size - consumed) / budget.sampled as u64;
        for k in 0..budget.sampled as u64 {
            let offset = consumed + k * step.max(1);
            if offset >= size {
                break;
            }
            reader.seek(SeekFrom::Start(offset))?;
            line.clear();
            let skipped = reader.read_until(b'\n', &mut line)? as u64;
            line.clear();
            let mut limited = (&mut reader).take(MAX_LINE_BYTES as u64);
            limited.read_until(b'\n', &mut line)?;
            if !line.is_empty() && line.len() < MAX_LINE_BYTES {
                parse_row(
                    &line,
                    RowPlace::Offset(offset + skipped),
                    shown,
                    span,
                    &mut sample,
                );
            }
        }
    }
    Ok(sample)
}

fn parse_row(line: &[u8], place: RowPlace, shown: &str, span: Span, sample: &mut Sample) {
    let text = String::from_utf8_lossy(line);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return;
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => sample.rows.push((place, value)),
        Err(error) if sample.diagnostics.len() < 3 => sample.diagnostics.push(
            Diagnostic::new(
                Code::E0402,
                span,
                format!("{} is not valid JSON: {error}", place.describe(shown)),
            )
            .with_label("rows are read from this file")
            .with_help("each line of a `.jsonl` file is one JSON object"),
        ),
        Err(_) => {}
    }
}

fn read_json(path: &Path, shown: &str, span: Span, budget: Budget) -> std::io::Result<Sample> {
    let size = std::fs::metadata(path)?.len();
    let mut sample = Sample {
        rows: Vec::new(),
        diagnostics: Vec::new(),
    };
    if size > MAX_JSON_BYTES {
        sample.diagnostics.push(
            Diagnostic::new(
                Code::W0402,
                span,
                format!("`{shown}` is too large to check ({} MiB)", size >> 20),
            )
            .with_label("not checked")
            .with_help("a JSON Lines file (`jsonl(...)`) can be checked at any size"),
        );
        return Ok(sample);
    }
    let text = std::fs::read(path)?;
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Array(rows)) => {
            // The first rows, then every `step`-th row of the rest.
            let step = (rows.len() / (budget.head + budget.sampled)).max(1);
            sample.rows = rows
                .into_iter()
                .enumerate()
                .filter(|(i, _)| *i < budget.head || (i - budget.head).is_multiple_of(step))
                .take(budget.head + budget.sampled)
                .map(|(i, row)| (RowPlace::Index(i + 1), row))
                .collect();
        }
        Ok(_) => sample.diagnostics.push(
            Diagnostic::new(Code::E0402, span, format!("`{shown}` is not a JSON array of rows"))
                .with_label("rows are read from this file")
                .with_help("a `json(...)` file holds one array of objects; use `jsonl(...)` for one object per line"),
        ),
        Err(error) => sample.diagnostics.push(
            Diagnostic::new(Code::E0402, span, format!("`{shown}` is not valid JSON: {error}")).with_label("rows are read from this file"),
        ),
    }
    Ok(sample)
}

/// The first rows of a Parquet file, then the first rows of evenly spaced row groups; each row as
/// the JSON object Parquet's record API makes of it.
fn read_parquet(path: &Path, shown: &str, span: Span, budget: Budget) -> std::io::Result<Sample> {
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let file = File::open(path)?;
    let mut sample = Sample {
        rows: Vec::new(),
        diagnostics: Vec::new(),
    };
    let reader = match SerializedFileReader::new(file) {
        Ok(reader) => reader,
        Err(error) => {
            sample.diagnostics.push(
                Diagnostic::new(
                    Code::E0402,
                    span,
                    format!("`{shown}` is not a readable Parquet file: {error}"),
                )
                .with_label("rows are read from this file"),
            );
            return Ok(sample);
        }
    };
    let groups = reader.metadata().num_row_groups();
    let mut picked_groups: Vec<usize> = (0..groups).step_by((groups / 16).max(1)).collect();
    picked_groups.dedup();
    let mut first_row = 0usize;
    let mut group_starts = Vec::with_capacity(groups);
    for g in 0..groups {
        group_starts.push(first_row);
        first_row += reader.metadata().row_group(g).num_rows().max(0) as usize;
    }
    for (turn, group) in picked_groups.into_iter().enumerate() {
        let budget = if turn == 0 {
            budget.head
        } else {
            budget.sampled / 15 + 1
        };
        let rows = match reader.get_row_group(group).and_then(|g| {
            g.get_row_iter(None)
                .map(|iter| iter.take(budget).collect::<Vec<_>>())
        }) {
            Ok(rows) => rows,
            Err(error) => {
                sample.diagnostics.push(
                    Diagnostic::new(
                        Code::E0402,
                        span,
                        format!("row group {group} of `{shown}` cannot be read: {error}"),
                    )
                    .with_label("rows are read from this file"),
                );
                break;
            }
        };
        for (offset, row) in rows.into_iter().enumerate() {
            match row {
                Ok(row) => sample.rows.push((
                    RowPlace::Index(group_starts[group] + offset + 1),
                    row.to_json_value(),
                )),
                Err(error) => {
                    sample.diagnostics.push(
                        Diagnostic::new(
                            Code::E0402,
                            span,
                            format!("a row of `{shown}` cannot be read: {error}"),
                        )
                        .with_label("rows are read from this file"),
                    );
                    break;
                }
            }
        }
    }
    Ok(sample)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number with a fraction",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What is wrong with one value, if anything: (code, message, help).
fn stored_in_data(ty: &Type) -> bool {
    match ty {
        Type::Text
        | Type::Int
        | Type::Float
        | Type::Bool
        | Type::Image
        | Type::BoundingBox
        | Type::Enum(_) => true,
        Type::List(inner) | Type::Optional(inner) => stored_in_data(inner),
        _ => false,
    }
}

/// Images of a dataset decoded in full by a check; the others' headers are read. A truncated file
/// has a valid header, and decoding every sampled image would make `rlxc check` (and an editor's
/// diagnostics) slow on large image sets.
const FULLY_DECODED_IMAGES: usize = 64;

fn check_value(
    value: &Value,
    ty: &Type,
    data_dir: &Path,
    decodes_left: &Cell<usize>,
) -> Option<(Code, String, Option<String>)> {
    let mismatch = |help: Option<String>| {
        Some((
            Code::E0405,
            format!("{} ({})", short(value), json_kind(value)),
            help,
        ))
    };
    match (ty, value) {
        (Type::Optional(_), Value::Null) => None,
        // Types a data file cannot hold (tuples, other datasets' rows, unknown names) are not checked.
        (ty, _) if !stored_in_data(ty) => None,
        (_, Value::Null) => Some((
            Code::E0404,
            "null".into(),
            Some(format!("declare the field `{}?` if it may be missing", ty)),
        )),
        (Type::Optional(inner), _) => check_value(value, inner, data_dir, decodes_left),
        (Type::Text, Value::String(_)) | (Type::Bool, Value::Bool(_)) => None,
        (Type::Text, Value::Number(n)) => mismatch(Some(format!(
            "declare the field `{}` if it holds numbers, or quote them in the data",
            if n.is_f64() { "float" } else { "int" }
        ))),
        (Type::Int, Value::Number(n))
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) =>
        {
            None
        }
        (Type::Int, Value::Number(_)) => mismatch(Some("declare the field `float`".into())),
        (Type::Float, Value::Number(_)) => None,
        (Type::Image, Value::String(path)) => {
            let full = data_dir.join(path);
            if !full.exists() {
                return Some((
                    Code::E0406,
                    format!("\"{path}\""),
                    Some(format!(
                        "looked for `{}`; image paths are relative to the data file",
                        full.display()
                    )),
                ));
            }
            let reader = image::ImageReader::open(&full)
                .and_then(|reader| reader.with_guessed_format())
                .map_err(|e| e.to_string());
            let checked = if decodes_left.get() > 0 {
                decodes_left.set(decodes_left.get() - 1);
                reader.and_then(|r| r.decode().map(drop).map_err(|e| e.to_string()))
            } else {
                reader.and_then(|r| r.into_dimensions().map(drop).map_err(|e| e.to_string()))
            };
            checked.err().map(|error| {
                (
                    Code::E0410,
                    format!("\"{path}\""),
                    Some(format!("`{}`: {error}", full.display())),
                )
            })
        }
        (Type::BoundingBox, Value::Array(items))
            if items.len() == 4 && items.iter().all(Value::is_number) =>
        {
            None
        }
        (Type::BoundingBox, _) => mismatch(Some("a box is written [x1, y1, x2, y2]".into())),
        (Type::Enum(cases), Value::String(case)) if cases.contains(case) => None,
        (Type::Enum(cases), Value::String(case)) => {
            let help = match rlx_lang::closest(case, cases.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`? the cases are {}", cases.join(", ")),
                None => format!(
                    "add `{case}` to the enum, or fix the data; the cases are {}",
                    cases.join(", ")
                ),
            };
            Some((Code::E0407, format!("\"{case}\""), Some(help)))
        }
        (Type::List(inner), Value::Array(items)) => items
            .iter()
            .take(MAX_LIST_ITEMS)
            .find_map(|item| check_value(item, inner, data_dir, decodes_left)),
        _ => mismatch(None),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// The first place a problem was seen, and how many rows showed it.
struct Finding {
    code: Code,
    span: Span,
    message: String,
    help: Option<String>,
    first: String,
    count: usize,
}

fn check_rows(
    decl: &DatasetDecl,
    fields: &[FieldSpec],
    sample: &Sample,
    shown: &str,
    data_dir: &Path,
) -> Vec<Diagnostic> {
    let mut findings: BTreeMap<(String, Code), Finding> = BTreeMap::new();
    let decodes_left = Cell::new(FULLY_DECODED_IMAGES);
    let mut extra: BTreeMap<String, String> = BTreeMap::new();
    let mut record = |key: (String, Code), make: &dyn Fn() -> Finding| {
        findings
            .entry(key)
            .and_modify(|f| f.count += 1)
            .or_insert_with(make);
    };
    for (place, row) in &sample.rows {
        let Value::Object(object) = row else {
            record((String::new(), Code::E0402), &|| Finding {
                code: Code::E0402,
                span: decl.name.span,
                message: format!("rows of `{shown}` must be JSON objects"),
                help: None,
                first: format!("{} is {}", place.describe(shown), json_kind(row)),
                count: 1,
            });
            continue;
        };
        for field in fields {
            match object.get(&field.key) {
                None if matches!(field.ty, Type::Optional(_)) => {}
                None => record((field.name.clone(), Code::E0403), &|| Finding {
                    code: Code::E0403,
                    span: field.span,
                    message: format!("rows of `{shown}` have no field `{}`", field.key),
                    help: Some(if field.key == field.name {
                        format!(
                            "mark it optional (`{}: {}?`), or map it to another key with `@field(\"...\")`",
                            field.name, field.ty
                        )
                    } else {
                        format!(
                            "`{}` reads the key `{}`; check the `@field` name",
                            field.name, field.key
                        )
                    }),
                    first: format!("first missing at {}", place.describe(shown)),
                    count: 1,
                }),
                Some(value) => {
                    if let Some((code, found, help)) =
                        check_value(value, &field.ty, data_dir, &decodes_left)
                    {
                        let message = match code {
                            Code::E0404 => format!(
                                "field `{}` is null in `{shown}` but not optional",
                                field.name
                            ),
                            Code::E0406 => {
                                format!("an image of field `{}` does not exist", field.name)
                            }
                            Code::E0410 => {
                                format!("an image of field `{}` cannot be decoded", field.name)
                            }
                            Code::E0407 => format!(
                                "field `{}` has a value that is not one of its cases",
                                field.name
                            ),
                            _ => format!(
                                "field `{}` is declared `{}` but `{shown}` holds {found}",
                                field.name, field.ty
                            ),
                        };
                        record((field.name.clone(), code), &|| Finding {
                            code,
                            span: field.span,
                            message: message.clone(),
                            help: help.clone(),
                            first: format!("first at {}: {found}", place.describe(shown)),
                            count: 1,
                        });
                    }
                }
            }
        }
        for key in object.keys() {
            if !fields.iter().any(|f| &f.key == key) && !extra.contains_key(key) {
                extra.insert(key.clone(), place.describe(shown));
            }
        }
    }
    let checked = sample.rows.len();
    let mut diagnostics: Vec<Diagnostic> = findings
        .into_values()
        .map(|f| {
            let mut diagnostic = Diagnostic::new(f.code, f.span, f.message)
                .with_label("declared here")
                .with_note(f.first);
            if f.count > 1 {
                diagnostic = diagnostic.with_note(format!(
                    "{} of the {checked} rows checked show this",
                    f.count
                ));
            }
            match f.help {
                Some(help) => diagnostic.with_help(help),
                None => diagnostic,
            }
        })
        .collect();
    for (key, first) in extra {
        diagnostics.push(
            Diagnostic::new(
                Code::W0401,
                decl.name.span,
                format!("`{shown}` has a field `{key}` that the schema does not declare"),
            )
            .with_label("schema declared here")
            .with_note(format!("first at {first}"))
            .with_help(format!(
                "declare it (`{key}: ...`) to use it; undeclared fields are not loaded"
            )),
        );
    }
    diagnostics
}

/// Checks every dataset of `module` that reads a JSON or JSON Lines file (paths relative to `dir`).
pub fn check_datasets(module: &Module, dir: &Path) -> Vec<Diagnostic> {
    let datasets: Vec<&Item> = module
        .items
        .iter()
        .filter(|item| matches!(&item.kind, ItemKind::Dataset(d) if data_source(d).is_some()))
        .collect();
    let budget = Budget::for_recipe(datasets.len());
    // Files are independent: check them on every core, keeping the recipe's order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = datasets.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = datasets
            .chunks(chunk)
            .map(|items| {
                scope.spawn(move || {
                    items
                        .iter()
                        .flat_map(|item| check_dataset(item, dir, budget))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a data check does not panic"))
            .collect()
    })
}

fn check_dataset(item: &Item, dir: &Path, budget: Budget) -> Vec<Diagnostic> {
    let ItemKind::Dataset(decl) = &item.kind else {
        return Vec::new();
    };
    let (Some((format, shown, span)), Some(fields)) = (data_source(decl), field_specs(decl)) else {
        return Vec::new();
    };
    let path: PathBuf = dir.join(&shown);
    let sample = match format {
        Format::JsonLines => read_jsonl(&path, &shown, span, budget),
        Format::Json => read_json(&path, &shown, span, budget),
        Format::Parquet => read_parquet(&path, &shown, span, budget),
    };
    match sample {
        Ok(mut sample) => {
            let data_dir = path.parent().unwrap_or(dir);
            let mut diagnostics = std::mem::take(&mut sample.diagnostics);
            diagnostics.extend(check_rows(decl, &fields, &sample, &shown, data_dir));
            diagnostics
        }
        Err(error) => {
            let reason = match error.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                _ => error.to_string(),
            };
            vec![
                Diagnostic::new(
                    Code::E0401,
                    span,
                    format!("cannot read the data file `{shown}`: {reason}"),
                )
                .with_label("this file")
                .with_note(format!(
                    "looked for `{}`; data paths are relative to the recipe",
                    path.display()
                ))
                .with_help("`rlxc check --no-data` checks the recipe without its data"),
            ]
        }
    }
}
