//! Tokenizers and the chat template. A Hugging Face folder brings its `tokenizer.json` (read with
//! the `tokenizers` crate); a `tiny(...)` model uses bytes plus a few special tokens, so a recipe
//! on CPU needs no files. Both render chats with ChatML (`<|im_start|>role\n...<|im_end|>\n`),
//! the template of Qwen2 models.

use std::path::Path;

/// The special tokens of the byte tokenizer, after the 256 bytes. The reasoning tags are single
/// tokens, as in the tokenizers of reasoning models: completions stay short on CPU.
pub const BYTE_SPECIALS: [&str; 7] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
];

/// The smallest vocabulary a byte-tokenized model can have.
pub const BYTE_VOCAB: usize = 256 + BYTE_SPECIALS.len();

/// The image tokens of Qwen2-VL's template, after the byte tokenizer's specials: a vision-language
/// model's prompt holds `<|vision_start|>`, one `<|image_pad|>` per image token, `<|vision_end|>`.
/// Prompts place them by id, never by text, so a text model's vocabulary does not need them.
pub const BYTE_VISION: [&str; 3] = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>"];

/// The smallest vocabulary a byte-tokenized vision-language model can have.
pub const BYTE_VL_VOCAB: usize = BYTE_VOCAB + BYTE_VISION.len();

pub enum Tokenizer {
    Bytes,
    Hf(Box<tokenizers::Tokenizer>),
}

impl Tokenizer {
    /// Reads `tokenizer.json` of a Hugging Face folder.
    pub fn from_folder(folder: &Path) -> Result<Tokenizer, String> {
        let path = folder.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| format!("`{}`: not a readable tokenizer: {e}", path.display()))?;
        Ok(Tokenizer::Hf(Box::new(tokenizer)))
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        match self {
            Tokenizer::Bytes => Ok(encode_bytes(text)),
            Tokenizer::Hf(tokenizer) => tokenizer
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| format!("cannot tokenize: {e}")),
        }
    }

    /// The text of tokens, special tokens included (rewards read the tags).
    pub fn decode(&self, tokens: &[u32]) -> String {
        match self {
            Tokenizer::Bytes => decode_bytes(tokens),
            Tokenizer::Hf(tokenizer) => tokenizer.decode(tokens, false).unwrap_or_default(),
        }
    }

    /// The id of a special token, when the vocabulary has it.
    pub fn special(&self, text: &str) -> Option<u32> {
        match self {
            Tokenizer::Bytes => BYTE_SPECIALS
                .iter()
                .chain(&BYTE_VISION)
                .position(|s| *s == text)
                .map(|i| 256 + i as u32),
            Tokenizer::Hf(tokenizer) => tokenizer.token_to_id(text),
        }
    }

    /// Tokens that end a completion: the end of the assistant's turn and the end of text.
    pub fn end_tokens(&self) -> Vec<u32> {
        ["<|im_end|>", "<|endoftext|>"]
            .iter()
            .filter_map(|s| self.special(s))
            .collect()
    }

    /// The token a completion ends with when it is learnt (SFT targets).
    pub fn end_of_turn(&self) -> Option<u32> {
        self.end_tokens().first().copied()
    }

    /// The id padding uses (never attended to, so any id does).
    pub fn pad(&self) -> u32 {
        self.special("<|endoftext|>").unwrap_or(0)
    }

    /// The vocabulary size the model needs at least.
    pub fn min_vocab(&self) -> usize {
        match self {
            Tokenizer::Bytes => BYTE_VOCAB,
            Tokenizer::Hf(tokenizer) => tokenizer.get_vocab_size(true),
        }
    }
}

/// ChatML: each message, then the opening of the assistant's turn.
pub fn render_chat(messages: &[(String, String)]) -> String {
    let mut text = String::new();
    for (role, content) in messages {
        text.push_str("<|im_start|>");
        text.push_str(role);
        text.push('\n');
        text.push_str(content);
        text.push_str("<|im_end|>\n");
    }
    text.push_str("<|im_start|>assistant\n");
    text
}

fn encode_bytes(text: &str) -> Vec<u32> {
    let mut tokens = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // The earliest special token, if any, splits the text.
        let next = BYTE_SPECIALS
            .iter()
            .enumerate()
            .filter_map(|(i, s)| rest.find(s).map(|at| (at, i, s.len())))
            .min();
        match next {
            Some((at, index, len)) => {
                tokens.extend(rest[..at].bytes().map(u32::from));
                tokens.push(256 + index as u32);
                rest = &rest[at + len..];
            }
            None => {
                tokens.extend(rest.bytes().map(u32::from));
                break;
            }
        }
    }
    tokens
}

fn decode_bytes(tokens: &[u32]) -> String {
    let mut bytes = Vec::with_capacity(tokens.len());
    for &token in tokens {
        match token {
            0..=255 => bytes.push(token as u8),
            // Ids beyond the specials (a vocabulary larger than needed) have no text.
            _ => {
                if let Some(special) = BYTE_SPECIALS
                    .iter()
                    .chain(&BYTE_VISION)
                    .nth(token as usize - 256)
                {
                    bytes.extend_from_slice(special.as_bytes());
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_with_special_tokens() {
        let text = "<|im_start|>user\n12+3=é<|im_end|>\n<think>2+3=5</think><answer>15</answer>";
        let tokens = Tokenizer::Bytes.encode(text).unwrap();
        assert_eq!(tokens[0], 257);
        assert!(tokens.contains(&259) && tokens.contains(&262));
        assert_eq!(Tokenizer::Bytes.decode(&tokens), text);
        assert_eq!(Tokenizer::Bytes.end_tokens(), vec![258, 256]);
    }

    #[test]
    fn chat_template_is_chatml() {
        let text = render_chat(&[("user".into(), "hi".into())]);
        assert_eq!(
            text,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
