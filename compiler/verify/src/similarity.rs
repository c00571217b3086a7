//! Text similarity: ANLS, edit similarity, ROUGE-N and ROUGE-L (as Google's `rouge_score` computes
//! them), BLEU-4, n-gram repetition. The quadratic ones (edit distance, longest common subsequence)
//! look at bounded prefixes, so their cost is bounded.

use std::collections::{HashMap, HashSet};

use crate::porter;
use crate::text::normalize;

/// Characters (ANLS, edit similarity) or words (ROUGE-N, BLEU-4) beyond these are not compared:
/// answers to compare this way are short, and the cost of a degenerate megabyte stays bounded.
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
    let similarity = edit_similarity(&normalize(prefix(answer)), &normalize(prefix(reference)));
    if similarity < 0.5 { 0.0 } else { similarity }
}

/// Levenshtein similarity, `1 - Levenshtein.distance(a, b) / max(len(a), len(b))`, over the
/// characters (code points) of the texts as given: no normalisation, no threshold. Two empty texts
/// are 1.0 (Python divides by zero there). Only the first `MAX_CHARS` characters of each are
/// compared.
pub fn edit_similarity(answer: &str, reference: &str) -> f64 {
    let a: Vec<char> = answer.chars().take(MAX_CHARS).collect();
    let b: Vec<char> = reference.chars().take(MAX_CHARS).collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / longest as f64
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

/// `rouge_score`'s tokens (`rouge_score/tokenize.py`), the first `limit` of them: the text
/// lower-cased as Python's `str.lower()` does, every run of characters other than `a`–`z` and
/// `0`–`9` a separator (so letters beyond ASCII separate words, as punctuation does), and, when
/// `stem`, each token longer than three characters replaced by its Porter stem (NLTK's).
fn rouge_tokens(text: &str, stem: bool, limit: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let finish = |current: &mut String, tokens: &mut Vec<String>| {
        if current.is_empty() {
            return;
        }
        let token = if stem && current.len() > 3 {
            let stemmed = porter::stem(current);
            current.clear();
            stemmed
        } else {
            std::mem::take(current)
        };
        if !token.is_empty() {
            tokens.push(token);
        }
    };
    let push = |lower: char, current: &mut String, tokens: &mut Vec<String>| {
        if lower.is_ascii_lowercase() || lower.is_ascii_digit() {
            current.push(lower);
        } else {
            finish(current, tokens);
        }
    };
    for c in text.chars() {
        if tokens.len() >= limit {
            break;
        }
        if c.is_ascii() {
            push(c.to_ascii_lowercase(), &mut current, &mut tokens);
        } else {
            // Lower-casing character by character is `str.lower()` here: the one mapping that
            // looks at context (a final sigma) gives no ASCII letter either way.
            for lower in c.to_lowercase() {
                push(lower, &mut current, &mut tokens);
            }
        }
    }
    push(' ', &mut current, &mut tokens);
    tokens.truncate(limit);
    tokens
}

/// The tokens of two texts as small integers (equal tokens, equal ids), for cheap n-gram keys.
fn token_ids<'t>(a: &'t [String], b: &'t [String]) -> [Vec<u32>; 2] {
    let mut ids: HashMap<&'t str, u32> = HashMap::new();
    [a, b].map(|tokens| {
        tokens
            .iter()
            .map(|token| {
                let next = ids.len() as u32;
                *ids.entry(token.as_str()).or_insert(next)
            })
            .collect()
    })
}

/// `rouge_score`'s `scoring.fmeasure`: the harmonic mean, 0 when precision and recall are 0.
fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

fn lcs<T: PartialEq>(a: &[T], b: &[T]) -> usize {
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

/// ROUGE-N F-measure of `answer` (the prediction) against `reference` (the target), as
/// `rouge_score.rouge_scorer.RougeScorer(['rougeN'], use_stemmer=stem)` computes it: the n-grams
/// in common counted with clipping, precision over the answer's n-grams, recall over the
/// reference's. Looks at the first `MAX_WORDS` tokens of each; 0 for `n` = 0.
pub fn rouge_n(answer: &str, reference: &str, n: usize, stem: bool) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let [prediction, target] = token_ids(
        &rouge_tokens(answer, stem, MAX_WORDS),
        &rouge_tokens(reference, stem, MAX_WORDS),
    );
    let (prediction_grams, target_grams) = (ngram_counts(&prediction, n), ngram_counts(&target, n));
    let overlap: usize = target_grams
        .iter()
        .map(|(gram, c)| (*c).min(prediction_grams.get(gram).copied().unwrap_or(0)))
        .sum();
    let prediction_total = prediction.len().saturating_sub(n - 1);
    let target_total = target.len().saturating_sub(n - 1);
    let precision = overlap as f64 / prediction_total.max(1) as f64;
    let recall = overlap as f64 / target_total.max(1) as f64;
    fmeasure(precision, recall)
}

/// ROUGE-L F-measure without stemming (`rouge_l_with(answer, reference, false)`).
pub fn rouge_l(answer: &str, reference: &str) -> f64 {
    rouge_l_with(answer, reference, false)
}

/// ROUGE-L F-measure of `answer` (the prediction) against `reference` (the target), as
/// `rouge_score.rouge_scorer.RougeScorer(['rougeL'], use_stemmer=stem)` computes it: the longest
/// common subsequence of tokens over the answer's length (precision) and the reference's (recall).
/// Looks at the first `MAX_LCS_WORDS` tokens of each.
pub fn rouge_l_with(answer: &str, reference: &str, stem: bool) -> f64 {
    let [prediction, target] = token_ids(
        &rouge_tokens(answer, stem, MAX_LCS_WORDS),
        &rouge_tokens(reference, stem, MAX_LCS_WORDS),
    );
    if prediction.is_empty() || target.is_empty() {
        return 0.0;
    }
    let common = lcs(&prediction, &target) as f64;
    fmeasure(
        common / prediction.len() as f64,
        common / target.len() as f64,
    )
}

fn ngram_counts<T: Eq + std::hash::Hash>(tokens: &[T], n: usize) -> HashMap<&[T], usize> {
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

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-12, "{actual} ≠ {expected}");
    }

    #[test]
    fn rouge_as_rouge_score_computes_it() {
        let (answer, reference) = ("the cat sat on the mat", "the cat is on the mat");
        // Unigrams: the ×2, cat, on, mat in common (sat and is not): 5 of 6 on each side.
        close(rouge_n(answer, reference, 1, false), 5.0 / 6.0);
        // Bigrams: the-cat, on-the, the-mat of 5 on each side.
        close(rouge_n(answer, reference, 2, false), 3.0 / 5.0);
        // LCS: the cat on the mat, 5 of 6 tokens on each side.
        close(rouge_l(answer, reference), 5.0 / 6.0);
        close(rouge_l_with(answer, reference, true), 5.0 / 6.0);
        // Stemmed: [run, dog] against [the, dog, run] ("the" and "dog" have at most three letters
        // and are not stemmed; "dogs" → dog, "running" → run, "runs" → run).
        let (answer, reference) = ("running dogs", "the dog runs");
        assert_eq!(rouge_n(answer, reference, 1, false), 0.0);
        // ROUGE-1: 2 in common, P = 2/2, R = 2/3, F = 2·(2/3)/(5/3) = 4/5.
        close(rouge_n(answer, reference, 1, true), 0.8);
        // ROUGE-2: run-dog against the-dog, dog-run: none.
        assert_eq!(rouge_n(answer, reference, 2, true), 0.0);
        // ROUGE-L: LCS 1, P = 1/2, R = 1/3, F = (1/3)/(5/6) = 2/5.
        close(rouge_l_with(answer, reference, true), 0.4);
        assert_eq!(rouge_l(answer, reference), 0.0);
        // Counts are clipped: the ×4 against the ×1 and cat: P = 1/4, R = 1/2, F = 1/3.
        close(rouge_n("the the the the", "the cat", 1, false), 1.0 / 3.0);
        // Words of three letters or fewer are not stemmed: "this" → thi, "was" stays.
        close(rouge_n("this was", "thi was", 1, true), 1.0);
        close(rouge_n("this was", "thi was", 1, false), 0.5);
        // No n-grams on a side: 0, as are an empty text and n = 0.
        assert_eq!(rouge_n("a b", "a b", 3, false), 0.0);
        assert_eq!(rouge_n("", "x", 1, false), 0.0);
        assert_eq!(rouge_n("x", "x", 0, false), 0.0);
        assert_eq!(rouge_l("", ""), 0.0);
        assert_eq!(rouge_l("", "x"), 0.0);
    }

    #[test]
    fn rouge_tokens_are_rouge_scores() {
        let tokens = |text: &str, stem: bool| rouge_tokens(text, stem, usize::MAX);
        // Lower-cased, and every run of characters other than a-z and 0-9 separates words.
        assert_eq!(
            tokens("Hello, World! It's 3.14", false),
            ["hello", "world", "it", "s", "3", "14"]
        );
        // Letters beyond ASCII separate words too: café → caf, naïve → na ve.
        assert_eq!(tokens("Café naïve 東京", false), ["caf", "na", "ve"]);
        // str.lower() makes İ an i and a combining dot, and the Kelvin sign a k.
        assert_eq!(tokens("İstanbul \u{212A}m", false), ["i", "stanbul", "km"]);
        assert_eq!(
            tokens("Running DOGS, the dying news", true),
            ["run", "dog", "the", "die", "news"]
        );
        assert!(tokens(" -- \n ", true).is_empty());
        assert_eq!(rouge_tokens("a b c d", false, 2), ["a", "b"]);
    }

    #[test]
    fn edit_similarity_is_levenshtein_over_characters() {
        // kitten → sitting: 3 edits over 7 characters.
        close(edit_similarity("kitten", "sitting"), 4.0 / 7.0);
        // Case counts, and there is no threshold (ANLS would give 0 below 0.5).
        close(edit_similarity("Paris", "paris"), 0.8);
        close(edit_similarity("abcde", "axyzw"), 0.2);
        assert_eq!(edit_similarity("London", "Paris"), 0.0);
        // Characters, not bytes.
        close(edit_similarity("café", "cafe"), 0.75);
        close(edit_similarity("東京", "東"), 0.5);
        assert_eq!(edit_similarity("", ""), 1.0);
        assert_eq!(edit_similarity("", "abc"), 0.0);
        assert_eq!(edit_similarity(" a", "a"), 0.5);
    }

    #[test]
    fn long_inputs_are_bounded() {
        let start = std::time::Instant::now();
        let long = "word ".repeat(200_000);
        anls(&long, &long);
        rouge_l(&long, &long);
        ngram_repetition(&long, 20);
        edit_similarity(&long, &long);
        rouge_n(&long, &long, 4, true);
        rouge_l_with(&long, &long, true);
        let unspaced = "ying".repeat(250_000);
        rouge_n(&unspaced, &unspaced, 1, true);
        rouge_l_with(&unspaced, "ying", true);
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }
}
