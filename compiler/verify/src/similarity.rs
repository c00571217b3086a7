//! Text similarity: ANLS, ROUGE-L, BLEU-4, n-gram repetition. The quadratic ones (edit distance,
//! longest common subsequence) look at bounded prefixes, so their cost is bounded.

use std::collections::{HashMap, HashSet};

use crate::text::normalize;

/// Characters (ANLS) or words (ROUGE-L, BLEU-4) beyond these are not compared: answers to compare
/// this way are short, and the cost of a degenerate megabyte stays bounded.
const MAX_CHARS: usize = 1_000;
const MAX_WORDS: usize = 2_000;
/// ROUGE-L's longest common subsequence is quadratic: it looks at the first 1,000 words.
const MAX_LCS_WORDS: usize = 1_000;

/// The start of `text` that can hold `MAX_CHARS` characters after normalisation (at a character
/// boundary), so that a megabyte is not normalised to compare its first thousand characters.
fn prefix(text: &str) -> &str {
    let mut end = text.len().min(MAX_CHARS * 8);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Average normalised Levenshtein similarity (DocVQA): 1 − distance / longer length, set to 0 below
/// the usual 0.5 threshold.
pub fn anls(answer: &str, reference: &str) -> f64 {
    let a: Vec<char> = normalize(prefix(answer)).chars().take(MAX_CHARS).collect();
    let b: Vec<char> = normalize(prefix(reference))
        .chars()
        .take(MAX_CHARS)
        .collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let similarity = 1.0 - levenshtein(&a, &b) as f64 / longest as f64;
    if similarity < 0.5 { 0.0 } else { similarity }
}

/// The first `MAX_WORDS` words, lower-cased, without surrounding punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .collect()
}

fn lcs(a: &[String], b: &[String]) -> usize {
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                previous[j + 1].max(current[j])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// ROUGE-L F-measure over words.
pub fn rouge_l(answer: &str, reference: &str) -> f64 {
    let (mut a, mut b) = (words(answer), words(reference));
    a.truncate(MAX_LCS_WORDS);
    b.truncate(MAX_LCS_WORDS);
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = lcs(&a, &b) as f64;
    if common == 0.0 {
        return 0.0;
    }
    let (precision, recall) = (common / a.len() as f64, common / b.len() as f64);
    2.0 * precision * recall / (precision + recall)
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// BLEU-4 of one answer against one reference, with add-one smoothing of the 2- to 4-gram
/// precisions (Lin and Och's smoothing 1) and the brevity penalty.
pub fn bleu4(answer: &str, reference: &str) -> f64 {
    let a = words(answer);
    let b = words(reference);
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut log_sum = 0.0;
    for n in 1..=4 {
        let candidate = ngram_counts(&a, n);
        let reference_counts = ngram_counts(&b, n);
        let total: usize = candidate.values().sum();
        let matched: usize = candidate
            .iter()
            .map(|(g, c)| (*c).min(*reference_counts.get(g).unwrap_or(&0)))
            .sum();
        let precision = if n == 1 {
            if matched == 0 {
                return 0.0;
            }
            matched as f64 / total as f64
        } else {
            (matched as f64 + 1.0) / (total as f64 + 1.0)
        };
        log_sum += precision.ln() / 4.0;
    }
    let brevity = if a.len() >= b.len() {
        1.0
    } else {
        (1.0 - b.len() as f64 / a.len() as f64).exp()
    };
    brevity * log_sum.exp()
}

/// The fraction of word `n`-grams that repeat an earlier one (0 for no repetition). Linear in the
/// text whatever `n`: each window is identified by two rolling polynomial hashes of its word ids
/// (distinct windows colliding in both is vanishingly unlikely).
pub fn ngram_repetition(text: &str, n: usize) -> f64 {
    let mut ids: HashMap<&str, u64, Fast> =
        HashMap::with_capacity_and_hasher(1024, Fast::default());
    let tokens: Vec<u64> = text
        .split_whitespace()
        .take(MAX_REPETITION_WORDS)
        .map(|word| {
            let next = ids.len() as u64 + 1;
            *ids.entry(word).or_insert(next)
        })
        .collect();
    if n == 0 || tokens.len() < n {
        return 0.0;
    }
    const BASES: [u64; 2] = [1_000_003, 0x9E37_79B9_7F4A_7C15];
    let oldest_weight = BASES.map(|base| wrapping_power(base, n));
    let mut hashes = [0u64; 2];
    let mut seen: HashSet<[u64; 2], Fast> =
        HashSet::with_capacity_and_hasher(tokens.len() - n + 1, Fast::default());
    let mut repeated = 0;
    for (i, &token) in tokens.iter().enumerate() {
        for k in 0..2 {
            hashes[k] = hashes[k].wrapping_mul(BASES[k]).wrapping_add(token);
            if i >= n {
                hashes[k] = hashes[k].wrapping_sub(tokens[i - n].wrapping_mul(oldest_weight[k]));
            }
        }
        if i + 1 >= n && !seen.insert(hashes) {
            repeated += 1;
        }
    }
    repeated as f64 / (tokens.len() - n + 1) as f64
}

/// Words beyond these are not looked at by `ngram_repetition` (a degenerate megabyte still shows
/// its repetition in its first 65,536 words).
const MAX_REPETITION_WORDS: usize = 1 << 16;

/// A fast multiplicative hasher for the repetition count's word and window keys (no untrusted
/// input can make a hash table quadratic here: the counts are bounded by `MAX_REPETITION_WORDS`).
type Fast = std::hash::BuildHasherDefault<FastHasher>;

#[derive(Default)]
struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// `base^exponent` modulo 2^64.
fn wrapping_power(mut base: u64, mut exponent: usize) -> u64 {
    let mut result: u64 = 1;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = result.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exponent >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarities() {
        assert_eq!(anls("Paris", "paris"), 1.0);
        assert!((anls("Pariss", "Paris") - (1.0 - 1.0 / 6.0)).abs() < 1e-12);
        assert_eq!(anls("London", "Paris"), 0.0);
        assert!(
            (rouge_l("the cat sat on the mat", "the cat is on the mat") - 5.0 / 6.0).abs() < 1e-12
        );
        assert_eq!(rouge_l("", "x"), 0.0);
        assert!((bleu4("the cat sat on the mat", "the cat sat on the mat") - 1.0).abs() < 1e-12);
        assert!(bleu4("a cat", "the cat sat on the mat") < 0.2);
        assert_eq!(ngram_repetition("a b c d", 2), 0.0);
        assert!((ngram_repetition("a b a b a b", 2) - 3.0 / 5.0).abs() < 1e-12);
        assert!((ngram_repetition("a b c a b c a b c", 3) - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(ngram_repetition("a b c d e f", 6), 0.0);
        assert_eq!(ngram_repetition("x y x y", 5), 0.0);
    }

    #[test]
    fn long_inputs_are_bounded() {
        let start = std::time::Instant::now();
        let long = "word ".repeat(200_000);
        anls(&long, &long);
        rouge_l(&long, &long);
        ngram_repetition(&long, 20);
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }
}
