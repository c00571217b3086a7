//! `docs/stdlib.md`, generated from the standard library's doc comments (a test keeps the file in
//! step with the sources: `RLX_BLESS=1 cargo test -p rlx-compiler stdlib_docs` rewrites it).

use rlx_lang::ast::{ExternDecl, Item, ItemKind, Param, TypeExpr};
use rlx_lang::format::type_text;

use crate::stdlib::StdLib;

fn param_text(param: &Param, source: &str) -> String {
    let mut text = param.name.name.clone();
    if let Some(ty) = &param.ty {
        text.push_str(": ");
        text.push_str(&type_text(ty));
    }
    if let Some(default) = &param.default {
        text.push_str(" = ");
        text.push_str(&source[default.span.start..default.span.end]);
    }
    text
}

/// `name(params) -> result`, or `name(params)` for a function whose result is inferred.
fn function_text(name: &str, params: &[Param], result: Option<&TypeExpr>, source: &str) -> String {
    let params: Vec<String> = params.iter().map(|p| param_text(p, source)).collect();
    let result = result.map(|t| format!(" -> {}", type_text(t)));
    format!(
        "{name}({}){}",
        params.join(", "),
        result.unwrap_or_default()
    )
}

/// The signature of a standard library item as it would be written in a recipe.
pub fn signature(item: &Item, source: &str) -> Option<String> {
    match &item.kind {
        ItemKind::Extern(ExternDecl::Fn(f)) => Some(function_text(
            &f.name.name,
            &f.params,
            Some(&f.result),
            source,
        )),
        ItemKind::Extern(ExternDecl::Let(l)) => {
            Some(format!("{}: {}", l.name.name, type_text(&l.ty)))
        }
        ItemKind::Fn(f) | ItemKind::Reward(f) => Some(function_text(
            &f.name.name,
            &f.params,
            f.result.as_ref(),
            source,
        )),
        _ => None,
    }
}

/// What a function written in rlx expands to: its body on one line.
fn definition(item: &Item, source: &str) -> Option<String> {
    let (ItemKind::Fn(f) | ItemKind::Reward(f)) = &item.kind else {
        return None;
    };
    let body = &source[f.body.span.start..f.body.span.end];
    Some(body.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The whole of docs/stdlib.md.
pub fn markdown() -> String {
    let stdlib = StdLib::get();
    let mut out = String::from(
        "# The rlx standard library\n\n\
         Generated from the doc comments in `stdlib/*.rlx` (do not edit by hand: \
         `RLX_BLESS=1 cargo test -p rlx-compiler stdlib_docs` regenerates it).\n\n\
         The prelude is always in scope; the other modules are imported with `use std::MODULE::{...}`.\n",
    );
    let order = std::iter::once("prelude")
        .chain(stdlib.modules.keys().copied().filter(|m| *m != "prelude"));
    for name in order {
        let module = &stdlib.modules[name];
        let title = if name == "prelude" {
            "The prelude".to_string()
        } else {
            format!("`std::{name}`")
        };
        out.push_str(&format!(
            "\n## {title}\n\n| item | what it does |\n|---|---|\n"
        ));
        for item in &module.module.items {
            if let Some(signature) = signature(item, module.source) {
                let mut docs = item.docs.join(" ");
                if let Some(body) = definition(item, module.source) {
                    docs.push_str(&format!(" Defined as `{body}`."));
                }
                let docs = docs.replace('|', "\\|");
                out.push_str(&format!(
                    "| `{}` | {docs} |\n",
                    signature.replace('|', "\\|")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn stdlib_docs_are_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/stdlib.md");
        let expected = super::markdown();
        if std::env::var_os("RLX_BLESS").is_some() {
            std::fs::write(&path, &expected).expect("write docs/stdlib.md");
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/stdlib.md is out of date: run RLX_BLESS=1 cargo test -p rlx-compiler stdlib_docs"
        );
    }
}
