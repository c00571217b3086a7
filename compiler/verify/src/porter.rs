//! The Porter stemmer exactly as NLTK's `nltk.stem.porter.PorterStemmer()` stems in its default
//! mode, `NLTK_EXTENSIONS`: the mode Google's `rouge_score` uses (`porter.PorterStemmer()` in
//! `rouge_score/tokenizers.py`, no mode given). That mode is Porter's 1980 algorithm with Martin
//! Porter's later changes and NLTK's own: a pool of irregular forms (`dying` → `die`), words of one
//! or two characters left alone, `ies`/`ied` on a one-letter stem kept as `ie` (`dies` → `die`),
//! `y` → `i` only after a consonant that is not the whole stem (`enjoy` stays), `bli` → `ble` for
//! `abli` → `able`, `alli` → `al` tried first and followed by step 2 again, `fulli` → `ful`, and
//! `logi` → `log` with the `l` counted in the stem.
//!
//! Each step is a port of the NLTK method of the same name, rule lists in the same order: a rule
//! list applies the first rule whose suffix the word ends with, and when that rule's condition
//! fails no later rule is tried. Every step is linear in the word, so a long word costs no more
//! than a few passes over it.

/// A letter of a word being stemmed: a byte of an ASCII word (the fast case, and all that ROUGE's
/// tokens hold), or a character of any other (Python indexes strings by code point).
trait Letter: Copy + Eq {
    fn code(self) -> u32;
    fn from_ascii(byte: u8) -> Self;
}

impl Letter for u8 {
    fn code(self) -> u32 {
        u32::from(self)
    }

    fn from_ascii(byte: u8) -> Self {
        byte
    }
}

impl Letter for char {
    fn code(self) -> u32 {
        u32::from(self)
    }

    fn from_ascii(byte: u8) -> Self {
        char::from(byte)
    }
}

/// NLTK's pool of irregular forms: a word found here is mapped to its paradigm and not stemmed.
const IRREGULAR_FORMS: &[(&str, &[&str])] = &[
    ("sky", &["sky", "skies"]),
    ("die", &["dying"]),
    ("lie", &["lying"]),
    ("tie", &["tying"]),
    ("news", &["news"]),
    ("inning", &["innings", "inning"]),
    ("outing", &["outings", "outing"]),
    ("canning", &["cannings", "canning"]),
    ("howe", &["howe"]),
    ("proceed", &["proceed"]),
    ("exceed", &["exceed"]),
    ("succeed", &["succeed"]),
];

/// The stem of `word`, as `PorterStemmer().stem(word)` gives it: the word is lower-cased first
/// (Python's `str.lower()`), looked up in the pool of irregular forms, returned as it is when it
/// has at most two characters, and otherwise stemmed.
pub fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if let Some((paradigm, _)) = IRREGULAR_FORMS
        .iter()
        .find(|(_, forms)| forms.contains(&lower.as_str()))
    {
        return (*paradigm).to_string();
    }
    // NLTK measures the word as given, before lower-casing (which can lengthen it: `İ` → `i̇`).
    if word.chars().count() <= 2 {
        return lower;
    }
    if lower.is_ascii() {
        let stemmed = stem_letters(lower.into_bytes());
        String::from_utf8(stemmed).expect("an ASCII word stems to ASCII")
    } else {
        stem_letters(lower.chars().collect::<Vec<char>>())
            .into_iter()
            .collect()
    }
}

fn stem_letters<T: Letter>(word: Vec<T>) -> Vec<T> {
    let word = step1a(word);
    let word = step1b(word);
    let word = step1c(word);
    let word = step2(word);
    let word = step3(word);
    let word = step4(word);
    let word = step5a(word);
    step5b(word)
}

fn is(letter: impl Letter, ascii: u8) -> bool {
    letter.code() == u32::from(ascii)
}

fn is_vowel(letter: impl Letter) -> bool {
    [b'a', b'e', b'i', b'o', b'u']
        .into_iter()
        .any(|v| is(letter, v))
}

fn ends_with<T: Letter>(word: &[T], suffix: &str) -> bool {
    word.len() >= suffix.len()
        && word[word.len() - suffix.len()..]
            .iter()
            .zip(suffix.bytes())
            .all(|(&letter, ascii)| is(letter, ascii))
}

/// `stem` followed by the ASCII `replacement`.
fn with<T: Letter>(stem: &[T], replacement: &str) -> Vec<T> {
    let mut word = Vec::with_capacity(stem.len() + replacement.len());
    word.extend_from_slice(stem);
    word.extend(replacement.bytes().map(T::from_ascii));
    word
}

/// `_is_consonant`: a letter other than a vowel, and other than a `y` that follows a consonant
/// (a run of `y`s alternates, the first after a vowel or at the start being a consonant).
fn is_consonant<T: Letter>(word: &[T], mut i: usize) -> bool {
    if is_vowel(word[i]) {
        return false;
    }
    if is(word[i], b'y') {
        let mut negate = false;
        while i > 0 && is(word[i], b'y') {
            negate = !negate;
            i -= 1;
        }
        // NLTK: `(word[i] not in vowels) != negate`.
        return is_vowel(word[i]) == negate;
    }
    true
}

/// `_consonant_flags`: whether each letter is a consonant, in one pass.
fn consonants<T: Letter>(word: &[T]) -> impl Iterator<Item = bool> + '_ {
    word.iter()
        .scan(None, |previous: &mut Option<bool>, &letter| {
            let consonant = if is_vowel(letter) {
                false
            } else if is(letter, b'y') {
                previous.is_none_or(|p| !p)
            } else {
                true
            };
            *previous = Some(consonant);
            Some(consonant)
        })
}

/// `_measure`: m in `[C](VC){m}[V]`, the number of vowel-consonant boundaries.
fn measure<T: Letter>(stem: &[T]) -> usize {
    let mut count = 0;
    let mut previous_vowel = false;
    for consonant in consonants(stem) {
        if consonant && previous_vowel {
            count += 1;
        }
        previous_vowel = !consonant;
    }
    count
}

fn positive_measure<T: Letter>(stem: &[T]) -> bool {
    measure(stem) > 0
}

fn measure_above_one<T: Letter>(stem: &[T]) -> bool {
    measure(stem) > 1
}

/// `_contains_vowel` (*v*).
fn contains_vowel<T: Letter>(stem: &[T]) -> bool {
    consonants(stem).any(|consonant| !consonant)
}

/// `_ends_double_consonant` (*d).
fn ends_double_consonant<T: Letter>(word: &[T]) -> bool {
    let n = word.len();
    n >= 2 && word[n - 1] == word[n - 2] && is_consonant(word, n - 1)
}

/// `_ends_cvc` (*o), with NLTK's extension to a two-letter vowel-consonant word.
fn ends_cvc<T: Letter>(word: &[T]) -> bool {
    let n = word.len();
    (n >= 3
        && is_consonant(word, n - 3)
        && !is_consonant(word, n - 2)
        && is_consonant(word, n - 1)
        && ![b'w', b'x', b'y'].into_iter().any(|c| is(word[n - 1], c)))
        || (n == 2 && !is_consonant(word, 0) && is_consonant(word, 1))
}

type Condition<'c, T> = &'c dyn Fn(&[T]) -> bool;

/// `_apply_rule_list`: the first rule whose suffix ends the word decides; its replacement when its
/// condition holds of the stem before the suffix, else the word unchanged.
fn apply_rules<T: Letter>(word: Vec<T>, rules: &[(&str, &str, Condition<'_, T>)]) -> Vec<T> {
    for (suffix, replacement, condition) in rules {
        if ends_with(&word, suffix) {
            let stem = &word[..word.len() - suffix.len()];
            return if condition(stem) {
                with(stem, replacement)
            } else {
                word
            };
        }
    }
    word
}

fn always<T>(_: &[T]) -> bool {
    true
}

/// Plurals: `sses` → `ss`, `ies` → `i` (`ie` for a four-letter word: `dies` → `die`), `ss` stays,
/// `s` goes.
fn step1a<T: Letter>(word: Vec<T>) -> Vec<T> {
    if ends_with(&word, "ies") && word.len() == 4 {
        return with(&word[..1], "ie");
    }
    apply_rules(
        word,
        &[
            ("sses", "ss", &always),
            ("ies", "i", &always),
            ("ss", "ss", &always),
            ("s", "", &always),
        ],
    )
}

/// `-ed` and `-ing`: `ied` → `i` (`ie` for a four-letter word), (m>0) `eed` → `ee`, and (*v*) `ed`
/// or `ing` removed, then `at`/`bl`/`iz` get their `e` back, a double consonant other than `l`,
/// `s`, `z` is halved, or (m=1 and *o) an `e` is added.
fn step1b<T: Letter>(word: Vec<T>) -> Vec<T> {
    let n = word.len();
    if ends_with(&word, "ied") {
        return if n == 4 {
            with(&word[..1], "ie")
        } else {
            with(&word[..n - 3], "i")
        };
    }
    if ends_with(&word, "eed") {
        let stem = &word[..n - 3];
        return if measure(stem) > 0 {
            with(stem, "ee")
        } else {
            word
        };
    }
    let Some(stem) = ["ed", "ing"]
        .into_iter()
        .filter(|suffix| ends_with(&word, suffix))
        .map(|suffix| &word[..n - suffix.len()])
        .find(|stem| contains_vowel(stem))
    else {
        return word;
    };
    if ["at", "bl", "iz"]
        .into_iter()
        .any(|suffix| ends_with(stem, suffix))
    {
        return with(stem, "e");
    }
    if ends_double_consonant(stem) {
        let last = stem[stem.len() - 1];
        return if [b'l', b's', b'z'].into_iter().any(|c| is(last, c)) {
            stem.to_vec()
        } else {
            stem[..stem.len() - 1].to_vec()
        };
    }
    if measure(stem) == 1 && ends_cvc(stem) {
        with(stem, "e")
    } else {
        stem.to_vec()
    }
}

/// NLTK's `y` → `i`: only after a consonant, and not when that consonant is the whole stem.
fn step1c<T: Letter>(word: Vec<T>) -> Vec<T> {
    let condition = |stem: &[T]| stem.len() > 1 && is_consonant(stem, stem.len() - 1);
    apply_rules(word, &[("y", "i", &condition)])
}

/// Double suffixes to single ones, (m>0).
fn step2<T: Letter>(word: Vec<T>) -> Vec<T> {
    // NLTK applies `alli` → `al` first and, when it succeeds, runs step 2 again.
    if ends_with(&word, "alli") && positive_measure(&word[..word.len() - 4]) {
        return step2(with(&word[..word.len() - 4], "al"));
    }
    // `logi` → `log` looks at the measure of the word without `ogi`, its `l` kept with the stem.
    let logi = ends_with(&word, "logi") && positive_measure(&word[..word.len() - 3]);
    let logi_condition = move |_: &[T]| logi;
    let positive: Condition<'_, T> = &positive_measure;
    apply_rules(
        word,
        &[
            ("ational", "ate", positive),
            ("tional", "tion", positive),
            ("enci", "ence", positive),
            ("anci", "ance", positive),
            ("izer", "ize", positive),
            ("bli", "ble", positive),
            ("alli", "al", positive),
            ("entli", "ent", positive),
            ("eli", "e", positive),
            ("ousli", "ous", positive),
            ("ization", "ize", positive),
            ("ation", "ate", positive),
            ("ator", "ate", positive),
            ("alism", "al", positive),
            ("iveness", "ive", positive),
            ("fulness", "ful", positive),
            ("ousness", "ous", positive),
            ("aliti", "al", positive),
            ("iviti", "ive", positive),
            ("biliti", "ble", positive),
            ("fulli", "ful", positive),
            ("logi", "log", &logi_condition),
        ],
    )
}

/// `-ic-`, `-full`, `-ness` and the like, (m>0).
fn step3<T: Letter>(word: Vec<T>) -> Vec<T> {
    let positive: Condition<'_, T> = &positive_measure;
    apply_rules(
        word,
        &[
            ("icate", "ic", positive),
            ("ative", "", positive),
            ("alize", "al", positive),
            ("iciti", "ic", positive),
            ("ical", "ic", positive),
            ("ful", "", positive),
            ("ness", "", positive),
        ],
    )
}

/// `-ant`, `-ence` and the like, (m>1); `ion` only after `s` or `t`.
fn step4<T: Letter>(word: Vec<T>) -> Vec<T> {
    let above_one: Condition<'_, T> = &measure_above_one;
    let ion = |stem: &[T]| {
        measure(stem) > 1
            && [b's', b't']
                .into_iter()
                .any(|c| is(stem[stem.len() - 1], c))
    };
    apply_rules(
        word,
        &[
            ("al", "", above_one),
            ("ance", "", above_one),
            ("ence", "", above_one),
            ("er", "", above_one),
            ("ic", "", above_one),
            ("able", "", above_one),
            ("ible", "", above_one),
            ("ant", "", above_one),
            ("ement", "", above_one),
            ("ment", "", above_one),
            ("ent", "", above_one),
            ("ion", "", &ion),
            ("ou", "", above_one),
            ("ism", "", above_one),
            ("ate", "", above_one),
            ("iti", "", above_one),
            ("ous", "", above_one),
            ("ive", "", above_one),
            ("ize", "", above_one),
        ],
    )
}

/// A final `e` goes when (m>1), or (m=1 and not *o).
fn step5a<T: Letter>(word: Vec<T>) -> Vec<T> {
    if ends_with(&word, "e") {
        let stem = &word[..word.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    word
}

/// (m>1 and *d and *L): `ll` → `l`, the measure taken of the word without its last `l`.
fn step5b<T: Letter>(mut word: Vec<T>) -> Vec<T> {
    if ends_with(&word, "ll") && measure_above_one(&word[..word.len() - 1]) {
        word.pop();
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, &str)]) {
        for (word, expected) in cases {
            assert_eq!(stem(word), *expected, "stem({word:?})");
        }
    }

    #[test]
    fn the_papers_examples() {
        // Porter's own examples for each step, as NLTK's docstrings list them.
        check(&[
            // Step 1a.
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("caress", "caress"),
            ("cats", "cat"),
            // Step 1b: (m>0) eed; (*v*) ed, ing; then at/bl/iz + e, *d halved, (m=1 and *o) + e.
            ("feed", "feed"),
            ("agreed", "agre"), // agree after 1b; 5a drops the e (m("agre") = 1, "agre" is not cvc).
            ("plastered", "plaster"),
            ("bled", "bled"), // "bl" has no vowel.
            ("motoring", "motor"),
            ("sing", "sing"),
            ("conflated", "conflat"), // conflate; step 4 keeps ate (m("confl") = 1), 5a drops the e.
            ("troubled", "troubl"),   // trouble; 5a drops the e (m("troubl") = 1, not cvc).
            ("sized", "size"),        // size: m("siz") = 1 and "siz" is cvc, so the e stays.
            ("hopping", "hop"),
            ("tanned", "tan"),
            ("falling", "fall"),
            ("hissing", "hiss"),
            ("fizzed", "fizz"),
            ("failing", "fail"),
            ("filing", "file"),
            // Step 1c.
            ("happy", "happi"),
            // Step 2, after which later steps go on (all from the paper's table).
            ("relational", "relat"), // relate; step 4 keeps ate (m("rel") = 1), 5a drops the e.
            ("conditional", "condit"), // condition → step 4 ion after t, m("condit") = 2.
            ("rational", "ration"),  // ational: m("r") = 0 fails and stops; tional is not tried.
            ("valenci", "valenc"),   // valence → step 5a drops e (m("valenc") = 2).
            ("hesitanci", "hesit"),  // hesitance → step 4 ance (m("hesit") = 2).
            ("digitizer", "digit"),  // digitize → step 4 ize (m("digit") = 2).
            ("conformabli", "conform"), // bli → ble: conformable → step 4 able.
            ("radicalli", "radic"),  // alli → al, step 2 again; radical → step 3 ical → radic.
            ("differentli", "differ"), // different → step 4 ent (m("differ") = 2).
            ("vileli", "vile"),      // vile: step 5a keeps the e (m("vil") = 1 and cvc).
            ("analogousli", "analog"), // analogous → step 4 ous (m("analog") = 3).
            ("vietnamization", "vietnam"), // vietnamize → step 4 ize.
            ("predication", "predic"), // predicate → step 3 icate → predic.
            ("operator", "oper"),    // operate → step 4 ate (m("oper") = 2).
            ("feudalism", "feudal"), // feudal → step 4 al: m("feud") = 1, stays.
            ("decisiveness", "decis"), // decisive → step 4 ive (m("decis") = 2).
            ("hopefulness", "hope"), // hopeful → step 3 ful → hope (5a: m("hop") = 1, cvc).
            ("callousness", "callous"), // callous: step 4 ous needs m("call") > 1; it is 1.
            ("formaliti", "formal"), // formal: step 4 al needs m("form") > 1; it is 1.
            ("sensitiviti", "sensit"), // sensitive → step 4 ive (m("sensit") = 2).
            ("sensibiliti", "sensibl"), // sensible → step 4 ible: m("sens") = 1; 5a: m("sensibl") = 2.
            // Step 3.
            ("triplicate", "triplic"),
            ("formative", "form"),
            ("formalize", "formal"),
            ("electriciti", "electr"), // electric → step 4 ic (m("electr") = 2).
            ("electrical", "electr"),
            ("hopeful", "hope"),
            ("goodness", "good"),
            // Step 4.
            ("revival", "reviv"),
            ("allowance", "allow"),
            ("inference", "infer"),
            ("airliner", "airlin"),
            ("gyroscopic", "gyroscop"),
            ("adjustable", "adjust"),
            ("defensible", "defens"),
            ("irritant", "irrit"),
            ("replacement", "replac"),
            ("adjustment", "adjust"),
            ("dependent", "depend"),
            ("adoption", "adopt"),
            ("homologou", "homolog"),
            ("communism", "commun"),
            ("activate", "activ"),
            ("angulariti", "angular"),
            ("homologous", "homolog"),
            ("effective", "effect"),
            ("bowdlerize", "bowdler"),
            // Step 5.
            ("probate", "probat"),
            ("rate", "rate"),
            ("cease", "ceas"),
            ("controll", "control"),
            ("roll", "roll"),
        ]);
    }

    #[test]
    fn common_words() {
        check(&[
            ("running", "run"),
            ("runs", "run"),
            ("dogs", "dog"),
            ("happiness", "happi"), // step 1c does not touch it; step 3 ness → happi.
            ("generalization", "gener"), // generalize (ization) → general (alize) → gener (al).
            ("generalizations", "gener"),
            ("relational", "relat"), // relate (ational) → relat (step 5a: m("relat") = 2).
            ("meetings", "meet"),
            ("matting", "mat"),
            ("mating", "mate"),
            ("milling", "mill"),
            ("messing", "mess"),
            ("disabled", "disabl"), // disable after 1b; 5a drops e (m("disabl") = 2).
            ("university", "univers"), // universiti → step 4 iti.
            ("quickly", "quickli"),
            ("jumps", "jump"),
            ("lazy", "lazi"),
            ("the", "the"),
            ("was", "wa"),
            ("this", "thi"),
            ("answer", "answer"), // step 4 er needs m("answ") > 1; it is 1.
            ("answers", "answer"),
            ("images", "imag"),
            ("cat", "cat"),
            ("a", "a"),
            ("is", "is"),    // two letters: left alone.
            ("as", "as"),    // two letters: left alone (else s would go).
            ("Cats", "cat"), // lower-cased first.
            ("1990s", "1990"),
            ("abc123", "abc123"),
        ]);
    }

    #[test]
    fn nltk_extensions() {
        check(&[
            // The pool of irregular forms bypasses the algorithm.
            ("dying", "die"), // the algorithm alone gives "dy" (ing after a vowel-containing "dy").
            ("lying", "lie"),
            ("tying", "tie"),
            ("skies", "sky"),
            ("sky", "sky"),
            ("news", "news"),
            ("innings", "inning"),
            ("outings", "outing"),
            ("cannings", "canning"),
            ("howe", "howe"),
            ("proceed", "proceed"), // the algorithm gives "proce" (eed: m("proc") = 1).
            ("exceed", "exceed"),
            ("succeed", "succeed"),
            // ies/ied after one letter keep ie; after more, i.
            ("dies", "die"),
            ("ties", "tie"),
            ("flies", "fli"),
            ("died", "die"),
            ("tied", "tie"),
            ("spied", "spi"),
            ("cried", "cri"),
            // y → i only after a consonant that is not the whole stem.
            ("enjoy", "enjoy"),
            ("spy", "spi"),
            ("fly", "fli"),
            ("try", "tri"),
            ("by", "by"),
            // fulli → ful and logi → log with the l in the stem.
            ("hopefulli", "hope"), // hopeful → step 3 ful.
            ("geologi", "geolog"), // m("geol") = 1 > 0; the original rule would test "geo" (m = 0).
            ("archaeologi", "archaeolog"),
            // *o extended to a vowel-consonant word of two letters.
            ("ating", "ate"), // at → ate by the at rule before *o is even tried.
            ("oped", "ope"),  // "op": m = 1 and *o by NLTK's two-letter case → ope.
            ("abled", "abl"), // "abl" → able; 5a: m("abl") = 1, "abl" ends vcc → not cvc, e goes.
        ]);
    }

    #[test]
    fn letters_beyond_ascii_and_long_words() {
        // A character outside a-z is a consonant, like NLTK's test.
        assert_eq!(stem("cafés"), "café");
        // naïveli (1c) → naïve (eli: m("naïv") = 1) → naïv (5a: "aïv" is not cvc, ï a consonant).
        assert_eq!(stem("naïvely"), "naïv");
        // 'İ' lower-cases to two characters, but NLTK measures the word as given.
        assert_eq!(stem("İs"), "i\u{307}s");
        let start = std::time::Instant::now();
        let long = "y".repeat(1 << 20);
        let _ = stem(&long);
        let _ = stem(&"ab".repeat(1 << 19));
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    }
}
