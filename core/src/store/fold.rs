//! Folding names for search as the agent types (A6).
//!
//! A name and a query are folded the same way, in Rust, so that index and
//! query can never disagree: compatibility-decompose (NFKD), drop combining
//! marks (accents, Greek tonos, Arabic harakat), lowercase with Unicode's
//! full mapping (Latin, Cyrillic, Greek...), treat Greek final sigma as
//! sigma, and split into words at anything that is not a letter or digit
//! (spaces, punctuation, emoji). "José Álvarez 🌵" folds to `jose alvarez`.
//!
//! SQLite's FTS5 `unicode61` tokenizer was the other candidate; folding here
//! instead keeps Greek and Cyrillic behaviour in our hands and lets the
//! query planner in `chat_list` bound its work by how many names match.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The folded words of `text`, in order, duplicates kept.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                cur.push(if l == 'ς' { 'σ' } else { l });
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The folded form kept in `chats.name_folded`: the words with a space on
/// each side, so `instr(name_folded, ' ' || prefix)` tests a word prefix.
pub fn folded_name(title: &str) -> String {
    let mut s = String::from(" ");
    for w in words(title) {
        s.push_str(&w);
        s.push(' ');
    }
    s
}

/// The exclusive upper bound of all words that start with `prefix`, under
/// SQLite's binary collation. U+10FFFF is the largest code point and never
/// survives folding (it is not alphanumeric), so every word `prefix + rest`
/// sorts below `prefix + U+10FFFF`.
pub fn prefix_upper_bound(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 4);
    s.push_str(prefix);
    s.push('\u{10FFFF}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a6_folds_case_and_accents_in_latin() {
        assert_eq!(words("José Álvarez"), ["jose", "alvarez"]);
        assert_eq!(words("ÁLV"), ["alv"]);
        assert_eq!(
            words("François Müller-Łukasz"),
            ["francois", "muller", "łukasz"]
        );
    }

    #[test]
    fn a6_folds_cyrillic_and_greek() {
        assert_eq!(words("Йосиф ЁЛКИН"), ["иосиф", "елкин"]);
        assert_eq!(words("Άλκηστις ΠΑΠΑΔΟΠΟΎΛΟΥ"), ["αλκηστισ", "παπαδοπουλου"]);
        assert_eq!(words("αλκ"), ["αλκ"]);
    }

    #[test]
    fn a6_emoji_and_symbols_separate_words_and_do_no_harm() {
        assert_eq!(
            words("🌵Ana🌵 de la 👩‍👩‍👧 Cruz!!"),
            ["ana", "de", "la", "cruz"]
        );
        assert!(words("🔥🔥🔥").is_empty());
        assert_eq!(folded_name("🔥"), " ");
    }

    #[test]
    fn a6_arabic_marks_are_dropped() {
        // "Muhammad" with and without harakat fold alike.
        assert_eq!(words("مُحَمَّد"), words("محمد"));
    }

    #[test]
    fn upper_bound_is_above_every_word_with_the_prefix() {
        let ub = prefix_upper_bound("al");
        for w in ["al", "alvarez", "al\u{10FFFD}zz", "alé"] {
            assert!(w.as_bytes() < ub.as_bytes(), "{w}");
        }
        assert!("am".as_bytes() > ub.as_bytes());
    }
}
