//! Byte offsets (what the compiler's spans hold) to and from LSP positions (line, UTF-16 column).

use lsp_types::{Position, Range};
use rlx_lang::Span;

pub struct LineIndex {
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column: usize = text[start..floor_boundary(text, offset)]
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(line as u32, column as u32)
    }

    pub fn range(&self, text: &str, span: Span) -> Range {
        Range::new(
            self.position(text, span.start),
            self.position(text, span.end),
        )
    }

    /// The byte offset of a position; past the end of a line is its end.
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(position.line as usize + 1)
            .map_or(text.len(), |next| next - 1);
        let mut units = 0;
        for (i, c) in text[start..end].char_indices() {
            if units >= position.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }
}

fn floor_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip() {
        let text = "let é = \"𝔸b\"\nx";
        let index = LineIndex::new(text);
        let b = text.find('b').unwrap();
        // `let é = "` is 9 UTF-16 units, 𝔸 two more.
        assert_eq!(index.position(text, b), Position::new(0, 11));
        assert_eq!(index.offset(text, Position::new(0, 11)), b);
        assert_eq!(index.offset(text, Position::new(1, 0)), text.len() - 1);
        assert_eq!(
            index.offset(text, Position::new(0, 99)),
            text.find('\n').unwrap()
        );
        assert_eq!(index.position(text, text.len()), Position::new(1, 1));
    }
}
