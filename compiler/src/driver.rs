//! The driver: the only part of the compiler that touches the file system. It loads a recipe and the
//! recipe modules it `use`s, and runs the pure phases of `rlx-lang` over them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rlx_lang::ast::{ItemKind, Module};
use rlx_lang::{Code, Diagnostic, Span};

use crate::source::SourceFile;
use crate::stdlib::{RecipeEnv, StdLib};

/// The outcome of checking one file.
#[derive(Debug)]
pub struct FileReport {
    pub file: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
}

impl FileReport {
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// A file that could not be read at all (missing, a directory, no permission).
#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.message)
    }
}

fn io_message(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => error.to_string(),
    }
}

/// A source file from raw bytes. Invalid UTF-8 is a diagnostic (E0100) at the first bad byte, with
/// the text decoded lossily so the diagnostic can be shown in context.
pub fn source_from_bytes(name: String, bytes: Vec<u8>) -> (SourceFile, Option<Diagnostic>) {
    match String::from_utf8(bytes) {
        Ok(text) => (SourceFile::new(name, text), None),
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let bad_len = bytes[valid..]
                .iter()
                .take(4)
                .take_while(|b| **b >= 0x80)
                .count()
                .max(1);
            let diagnostic = Diagnostic::new(
                Code::E0100,
                Span::new(valid, valid + bad_len.min(text.len() - valid)),
                "this file is not valid UTF-8",
            )
            .with_label(format!("invalid byte 0x{:02X} here", bytes[valid]))
            .with_help("recipes are UTF-8 text; re-save the file as UTF-8");
            (SourceFile::new(name, text), Some(diagnostic))
        }
    }
}

/// The recipe modules (`use a::b::{...}` means `a/b.rlx` beside the recipe) that `module` imports,
/// loaded and parsed: each one's syntax tree, or a note saying why it could not be read.
fn load_local_modules(
    module: &Module,
    dir: &Path,
) -> BTreeMap<Vec<String>, Result<Module, String>> {
    let mut local = BTreeMap::new();
    for item in &module.items {
        let ItemKind::Use(decl) = &item.kind else {
            continue;
        };
        let path: Vec<String> = decl.module.iter().map(|i| i.name.clone()).collect();
        if path.first().is_none_or(|first| first == "std") || local.contains_key(&path) {
            continue;
        }
        let mut file = dir.to_path_buf();
        for segment in &path {
            file.push(segment);
        }
        file.set_extension("rlx");
        let parsed = match std::fs::read_to_string(&file) {
            Ok(text) => Ok(rlx_lang::parse(&text).module),
            Err(error) => Err(format!(
                "looked for `{}`: {}",
                file.display(),
                io_message(&error)
            )),
        };
        local.insert(path, parsed);
    }
    local
}

/// What `check` looks at besides the recipe itself.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Open the datasets' files and check their rows against the schemas (`--no-data` turns it off).
    pub data: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { data: true }
    }
}

/// Everything the compiler learns about one recipe.
pub struct Analysis {
    pub diagnostics: Vec<Diagnostic>,
    /// The plan, when the recipe has a `train` block and no errors.
    pub plan: Option<crate::plan::Plan>,
    /// Whether the recipe has a `train` block (a module of rewards has none).
    pub has_train: bool,
    /// The reward asked for with [`analyze_reward`], when the recipe has no errors: its graph, or
    /// why there is none.
    pub reward: Option<Result<crate::lower::RewardGraph, String>>,
    /// The syntax tree, as the parser recovered it.
    pub module: Module,
    /// Every use of a name and what it refers to.
    pub index: rlx_lang::SymbolIndex,
}

/// Parses and resolves `file`, and checks its data contracts; `use`d modules and data files are
/// looked up relative to `dir`.
pub fn check_source(file: &SourceFile, dir: &Path, options: CheckOptions) -> Vec<Diagnostic> {
    analyze(file, dir, options).diagnostics
}

/// Every phase over `file`: parse, resolve, type-check, data contracts and, when all of those
/// found no error, lowering to the plan (which checks what only the expanded settings show).
pub fn analyze(file: &SourceFile, dir: &Path, options: CheckOptions) -> Analysis {
    analyze_reward(file, dir, options, None)
}

/// [`analyze`], and lowers the reward `reward` on its own when the recipe has no errors.
pub fn analyze_reward(
    file: &SourceFile,
    dir: &Path,
    options: CheckOptions,
    reward: Option<&str>,
) -> Analysis {
    let parsed = rlx_lang::parse(&file.text);
    let loaded = load_local_modules(&parsed.module, dir);
    let env = RecipeEnv {
        stdlib: StdLib::get(),
        local: loaded
            .iter()
            .map(|(path, module)| {
                (
                    path.clone(),
                    module
                        .as_ref()
                        .map(crate::stdlib::exports)
                        .map_err(Clone::clone),
                )
            })
            .collect(),
    };
    let mut diagnostics = parsed.diagnostics;
    let syntax_errors = diagnostics.iter().any(Diagnostic::is_error);
    // Names used only inside an item that did not parse look unused; say nothing about them then.
    let (resolved, index) = rlx_lang::resolve_indexed(&parsed.module, &env);
    diagnostics.extend(
        resolved
            .into_iter()
            .filter(|d| !(syntax_errors && d.code == Code::W0201)),
    );
    // An item the parser had to recover is only partly there: its type errors would be noise.
    let broken: Vec<rlx_lang::Span> = parsed
        .module
        .items
        .iter()
        .map(|item| item.span)
        .filter(|span| {
            diagnostics.iter().any(|d| {
                d.is_error() && d.code.as_str().starts_with("E01") && span.contains(d.span().start)
            })
        })
        .collect();
    diagnostics.extend(
        rlx_lang::typeck::check(&parsed.module, &env)
            .into_iter()
            .filter(|d| !broken.iter().any(|span| span.contains(d.span().start))),
    );
    if options.data {
        diagnostics.extend(crate::data::check_datasets(&parsed.module, dir));
    }
    let mut plan = None;
    let mut reward_graph = None;
    let has_train = parsed
        .module
        .items
        .iter()
        .any(|item| matches!(item.kind, ItemKind::Train(_)));
    if !diagnostics.iter().any(Diagnostic::is_error) {
        let locals: BTreeMap<Vec<String>, Module> = loaded
            .into_iter()
            .filter_map(|(path, module)| Some((path, module.ok()?)))
            .collect();
        let input = crate::lower::LowerInput {
            module: &parsed.module,
            source: file,
            locals: &locals,
            base_dir: dir.display().to_string(),
        };
        let lowered = crate::lower::lower(&input);
        diagnostics.extend(lowered.diagnostics);
        plan = lowered.plan;
        if let Some(name) = reward {
            let (graph, found) = crate::lower::lower_reward(&input, name);
            for diagnostic in found {
                if !diagnostics.contains(&diagnostic) {
                    diagnostics.push(diagnostic);
                }
            }
            reward_graph = Some(graph);
        }
    }
    rlx_lang::diagnostic::sort_diagnostics(&mut diagnostics);
    Analysis {
        diagnostics,
        plan,
        has_train,
        reward: reward_graph,
        module: parsed.module,
        index,
    }
}

/// Reads a recipe: its text, and the E0100 diagnostic when it is not UTF-8.
pub fn read_file(path: &Path) -> Result<(SourceFile, Option<Diagnostic>), LoadError> {
    let bytes = std::fs::read(path).map_err(|error| LoadError {
        path: path.to_path_buf(),
        message: io_message(&error),
    })?;
    Ok(source_from_bytes(path.display().to_string(), bytes))
}

/// The folder a recipe's `use`d modules and data files are relative to.
pub fn recipe_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Checks one file: read, parse, resolve, type-check, data contracts.
pub fn check_file(path: &Path, options: CheckOptions) -> Result<FileReport, LoadError> {
    let (file, utf8_error) = read_file(path)?;
    Ok(check_loaded(file, utf8_error, recipe_dir(path), options))
}

/// Checks the bytes of a file shown as `name`, whose `use`d modules live in `dir`.
pub fn check_bytes(name: String, bytes: Vec<u8>, dir: &Path, options: CheckOptions) -> FileReport {
    let (file, utf8_error) = source_from_bytes(name, bytes);
    check_loaded(file, utf8_error, dir, options)
}

/// Checks a file already read: an encoding error is the whole report.
pub fn check_loaded(
    file: SourceFile,
    utf8_error: Option<Diagnostic>,
    dir: &Path,
    options: CheckOptions,
) -> FileReport {
    if let Some(diagnostic) = utf8_error {
        return FileReport {
            file,
            diagnostics: vec![diagnostic],
        };
    }
    let diagnostics = check_source(&file, dir, options);
    FileReport { file, diagnostics }
}

/// The files a command-line argument names: the file itself, or every `.rlx` file under a directory
/// (sorted, so output order is stable).
pub fn expand_path(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let entry_path = entry.path();
            if entry_path.is_dir() {
                pending.push(entry_path);
            } else if entry_path.extension().is_some_and(|ext| ext == "rlx") {
                found.push(entry_path);
            }
        }
    }
    found.sort();
    found
}

/// The shape of the plan's policy: from `tiny(...)`'s arguments, or from the `config.json` in a
/// Hugging Face model folder.
pub fn policy_shape(plan: &crate::plan::Plan) -> crate::explain::PolicyShape {
    use crate::explain::ModelShape;
    use crate::plan::Value;
    let model = plan
        .models
        .iter()
        .find(|m| m.name == plan.policy)
        .ok_or_else(|| format!("`{}` is not declared", plan.policy))?;
    if let Some(shape) = ModelShape::of_constructor(model) {
        return Ok(shape);
    }
    let Some(Value::Text(path)) = model.args.get("path") else {
        return Err(format!("`{}` models have no size here", model.constructor));
    };
    let dtype = match model.args.get("dtype") {
        Some(Value::Text(dtype)) => dtype.as_str(),
        _ => "f32",
    };
    let config = Path::new(&plan.base_dir).join(path).join("config.json");
    let text = std::fs::read_to_string(&config)
        .map_err(|e| format!("cannot read `{}`: {}", config.display(), io_message(&e)))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("`{}` is not JSON: {e}", config.display()))?;
    ModelShape::of_config(&json, dtype).ok_or_else(|| {
        format!(
            "`{}` lacks hidden_size, num_hidden_layers, num_attention_heads, intermediate_size or vocab_size",
            config.display()
        )
    })
}
