//! The rlx language front end: lexer, parser, syntax tree, name resolution and the diagnostic type.
//! Pure: no IO. Every phase returns its result together with its diagnostics and never gives up.

pub mod ast;
pub mod diagnostic;
pub mod format;
mod grammar;
pub mod lexer;
pub mod literal;
pub mod parser;
pub mod ranges;
pub mod span;
pub mod typeck;
pub mod types;

pub use diagnostic::{Code, Diagnostic, Label, Severity};
pub use parser::{Parsed, parse};
pub use span::Span;
pub mod resolve;
mod suggest;

pub use resolve::{ModuleEnv, Reference, SymbolIndex, Target, resolve, resolve_indexed};
pub use suggest::closest;

/// Parses and resolves one file: the syntax tree and every diagnostic, sorted by position.
pub fn check(source: &str, env: &dyn ModuleEnv) -> Parsed {
    let mut parsed = parse(source);
    parsed.diagnostics.extend(resolve(&parsed.module, env));
    diagnostic::sort_diagnostics(&mut parsed.diagnostics);
    parsed
}
