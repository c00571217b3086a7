//! The standard library: `.rlx` sources under `stdlib/`, embedded in the compiler. `prelude.rlx` is
//! always in scope; every other file `NAME.rlx` is the module `std::NAME`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rlx_lang::ast::Module;
use rlx_lang::{Diagnostic, ModuleEnv};

/// (module name, source) of every standard library file.
pub const SOURCES: &[(&str, &str)] = &[
    ("prelude", include_str!("../../stdlib/prelude.rlx")),
    ("verify", include_str!("../../stdlib/verify.rlx")),
    ("extract", include_str!("../../stdlib/extract.rlx")),
    ("format", include_str!("../../stdlib/format.rlx")),
    ("length", include_str!("../../stdlib/length.rlx")),
    ("schedule", include_str!("../../stdlib/schedule.rlx")),
];

pub struct StdModule {
    pub name: &'static str,
    pub source: &'static str,
    pub module: Module,
    /// Parse diagnostics; empty for a good build (a test checks).
    pub diagnostics: Vec<Diagnostic>,
    pub exports: Vec<String>,
}

pub struct StdLib {
    pub prelude: Vec<String>,
    pub modules: BTreeMap<&'static str, StdModule>,
}

/// The names a module defines at its top level: what `use` can import from it.
pub fn exports(module: &Module) -> Vec<String> {
    module
        .items
        .iter()
        .filter_map(|item| item.defined_name())
        .map(|name| name.name.clone())
        .collect()
}

impl StdLib {
    /// The parsed standard library, built once per process.
    pub fn get() -> &'static StdLib {
        static STDLIB: OnceLock<StdLib> = OnceLock::new();
        STDLIB.get_or_init(|| {
            let modules: BTreeMap<_, _> = SOURCES
                .iter()
                .map(|&(name, source)| {
                    let parsed = rlx_lang::parse(source);
                    let exports = exports(&parsed.module);
                    (
                        name,
                        StdModule {
                            name,
                            source,
                            module: parsed.module,
                            diagnostics: parsed.diagnostics,
                            exports,
                        },
                    )
                })
                .collect();
            let prelude = modules["prelude"].exports.clone();
            StdLib { prelude, modules }
        })
    }

    /// The exports of `std::NAME` (not the prelude, which is not imported).
    pub fn module(&self, name: &str) -> Option<&StdModule> {
        self.modules.get(name).filter(|m| m.name != "prelude")
    }
}

/// The names a recipe can see: the standard library and the recipe's own modules, which the driver
/// has loaded (`local`: module path to its exports, or a note saying why it could not be loaded).
pub struct RecipeEnv<'a> {
    pub stdlib: &'a StdLib,
    pub local: BTreeMap<Vec<String>, Result<Vec<String>, String>>,
}

impl ModuleEnv for RecipeEnv<'_> {
    fn prelude(&self) -> &[String] {
        &self.stdlib.prelude
    }

    fn module(&self, path: &[String]) -> Result<Vec<String>, Option<String>> {
        match path {
            [std, name] if std == "std" => self
                .stdlib
                .module(name)
                .map(|m| m.exports.clone())
                .ok_or(None),
            [std, ..] if std == "std" => Err(None),
            _ => match self.local.get(path) {
                Some(Ok(exports)) => Ok(exports.clone()),
                Some(Err(note)) => Err(Some(note.clone())),
                None => Err(None),
            },
        }
    }

    fn declaration(&self, path: &[String], name: &str) -> Option<&rlx_lang::ast::Item> {
        let module = match path {
            [] => self.stdlib.modules.get("prelude")?,
            [std, module] if std == "std" => self.stdlib.module(module)?,
            _ => return None,
        };
        module
            .module
            .items
            .iter()
            .find(|item| item.defined_name().is_some_and(|n| n.name == name))
    }

    fn known_modules(&self) -> Vec<Vec<String>> {
        let std_modules = self
            .stdlib
            .modules
            .keys()
            .filter(|name| **name != "prelude")
            .map(|name| vec!["std".to_string(), name.to_string()]);
        let local = self
            .local
            .iter()
            .filter(|(_, found)| found.is_ok())
            .map(|(path, _)| path.clone());
        std_modules.chain(local).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stdlib_file_parses_resolves_and_type_checks_clean() {
        let stdlib = StdLib::get();
        let env = RecipeEnv {
            stdlib,
            local: BTreeMap::new(),
        };
        for module in stdlib.modules.values() {
            assert!(
                module.diagnostics.is_empty(),
                "std::{} does not parse: {:?}",
                module.name,
                module.diagnostics
            );
            let resolved = rlx_lang::resolve(&module.module, &env);
            assert!(
                resolved.is_empty(),
                "std::{} does not resolve: {:?}",
                module.name,
                resolved
            );
            let typed = rlx_lang::typeck::check(&module.module, &env);
            assert!(
                typed.is_empty(),
                "std::{} does not type-check: {:?}",
                module.name,
                typed
            );
            assert!(!module.exports.is_empty());
        }
    }

    #[test]
    fn every_stdlib_item_has_a_doc_comment() {
        for module in StdLib::get().modules.values() {
            for item in &module.module.items {
                let name = item.defined_name().map_or("?", |n| n.name.as_str());
                assert!(
                    !item.docs.is_empty(),
                    "std::{}::{} has no doc comment",
                    module.name,
                    name
                );
            }
        }
    }
}
