//! An open document and what the compiler knows about it. Analysis is the compiler's own (parse,
//! resolve, type check, lowering; data contracts when asked), run again on every change.

use std::path::{Path, PathBuf};

use lsp_types::Uri;
use rlx_compiler::driver::{self, Analysis, CheckOptions};
use rlx_compiler::source::SourceFile;
use rlx_lang::ast::{Item, ItemKind};

use crate::position::LineIndex;

pub struct Document {
    pub uri: Uri,
    /// The file behind the URI, when it is a `file:` URI.
    pub path: Option<PathBuf>,
    pub version: i32,
    pub file: SourceFile,
    pub lines: LineIndex,
    pub analysis: Analysis,
}

impl Document {
    /// Analyses `text`; `data` also opens the datasets' files (on open and save, never while
    /// typing).
    pub fn new(uri: Uri, text: String, version: i32, data: bool) -> Document {
        let path = path_of(&uri);
        let name = path
            .as_ref()
            .map_or_else(|| uri.as_str().to_string(), |p| p.display().to_string());
        let (file, utf8_error) = driver::source_from_bytes(name, text.into_bytes());
        let dir = path.as_deref().map_or_else(
            || Path::new(".").to_path_buf(),
            |p| driver::recipe_dir(p).to_path_buf(),
        );
        let mut analysis = driver::analyze(&file, &dir, CheckOptions { data });
        analysis.diagnostics.extend(utf8_error);
        Document {
            uri,
            path,
            version,
            lines: LineIndex::new(&file.text),
            file,
            analysis,
        }
    }

    pub fn text(&self) -> &str {
        &self.file.text
    }

    /// The folder `use`d modules are relative to.
    pub fn dir(&self) -> PathBuf {
        self.path.as_deref().map_or_else(
            || PathBuf::from("."),
            |p| driver::recipe_dir(p).to_path_buf(),
        )
    }

    pub fn items(&self) -> &[Item] {
        &self.analysis.module.items
    }

    /// The top-level item whose name is at `span`.
    pub fn item_named_at(&self, span: rlx_lang::Span) -> Option<&Item> {
        self.items().iter().find(|item| {
            item.defined_name().is_some_and(|n| n.span == span) || import_at(item, span)
        })
    }
}

fn import_at(item: &Item, span: rlx_lang::Span) -> bool {
    matches!(&item.kind, ItemKind::Use(decl) if decl.names.iter().any(|n| n.local().span == span))
}

/// The path of a `file:` URI.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = rest.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8(decoded).ok()?))
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Uri {
    let mut text = String::from("file://");
    for byte in path.display().to_string().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            text.push(byte as char);
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text.parse().expect("an encoded file URI parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_round_trip() {
        let path = Path::new("/tmp/a dir/récipe.rlx");
        let uri = uri_of(path);
        assert_eq!(uri.as_str(), "file:///tmp/a%20dir/r%C3%A9cipe.rlx");
        assert_eq!(path_of(&uri).as_deref(), Some(path));
    }
}
