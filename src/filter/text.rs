//! String operators: `prefix`, `suffix` (optionally ignoring case), `equals-ignore-case`
//! and `wildcard`.
//!
//! Case folding is Unicode lowercase on both sides, done once for the pattern at compile
//! time. A wildcard is split at its unescaped `*` into literal pieces and matched greedily
//! left to right, which is linear in the input: no backtracking blow-up whatever the
//! pattern. This file knows nothing of JSON or records.

use super::error::PatternProblem;

/// Whether `value` equals `lower` (already lowercase) ignoring case.
pub(crate) fn eq_ignore_case(value: &str, lower: &str) -> bool {
    value.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// A `prefix` or `suffix` operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Affix {
    /// The text, lowercased when `ignore_case`.
    pub text: String,
    pub ignore_case: bool,
}

impl Affix {
    pub fn exact(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ignore_case: false,
        }
    }

    pub fn ignoring_case(text: &str) -> Self {
        Self {
            text: text.to_lowercase(),
            ignore_case: true,
        }
    }

    pub fn is_prefix_of(&self, value: &str) -> bool {
        if !self.ignore_case {
            return value.starts_with(&self.text);
        }
        let mut folded = value.chars().flat_map(char::to_lowercase);
        self.text.chars().all(|c| folded.next() == Some(c))
    }

    pub fn is_suffix_of(&self, value: &str) -> bool {
        if self.ignore_case {
            value.to_lowercase().ends_with(&self.text)
        } else {
            value.ends_with(&self.text)
        }
    }
}

/// A compiled `wildcard` operand: literal pieces between the `*`s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wildcard {
    pieces: Vec<String>,
}

impl Wildcard {
    /// Compile `pattern`: `*` matches any run of characters (also none), `\*` is a literal
    /// star and `\\` a literal backslash; any other escape and two `*` in a row are refused.
    pub fn compile(pattern: &str) -> Result<Self, PatternProblem> {
        let mut pieces = vec![String::new()];
        let mut chars = pattern.chars();
        let mut last_was_star = false;
        while let Some(c) = chars.next() {
            match c {
                '*' if last_was_star => {
                    return Err(PatternProblem::Wildcard(format!(
                        "consecutive wildcard characters are not allowed in {pattern:?}"
                    )));
                }
                '*' => {
                    pieces.push(String::new());
                    last_was_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => push(&mut pieces, e),
                    _ => {
                        return Err(PatternProblem::Wildcard(format!(
                            "a backslash must escape \"*\" or \"\\\" in {pattern:?}"
                        )));
                    }
                },
                c => push(&mut pieces, c),
            }
            last_was_star = false;
        }
        Ok(Self { pieces })
    }

    pub fn matches(&self, value: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return value.is_empty(),
        };
        let Some(mut tail) = value.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // No star: the whole value must be the literal.
            return tail.is_empty();
        };
        for piece in middle {
            match tail.find(piece.as_str()) {
                Some(i) => tail = &tail[i + piece.len()..],
                None => return false,
            }
        }
        tail.ends_with(last.as_str())
    }
}

fn push(pieces: &mut [String], c: char) {
    if let Some(p) = pieces.last_mut() {
        p.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_pieces() {
        let w = |p: &str, v: &str| Wildcard::compile(p).unwrap().matches(v);
        assert!(w("*.png", "dir/file.png"));
        assert!(!w("*.png", "file.png.txt"));
        assert!(w("dir/*/file.png", "dir/a/b/file.png"));
        assert!(w("a*b*c", "abc"));
        assert!(w("a*b*c", "aXbYbZc"));
        assert!(!w("a*b*c", "acb"));
        assert!(w("abc", "abc"));
        assert!(!w("abc", "abcd"));
        assert!(w("*", ""));
        assert!(w("", ""));
        assert!(!w("", "x"));
        assert!(w(r"a\*b", "a*b"));
        assert!(!w(r"a\*b", "aXb"));
        assert!(w(r"a\\*", r"a\anything"));
        assert!(!w("ab*ba", "aba"));
        assert!(w("ab*ba", "abba"));
        assert!(Wildcard::compile("a**b").is_err());
        assert!(Wildcard::compile(r"a\b").is_err());
        assert!(Wildcard::compile("a\\").is_err());
    }

    #[test]
    fn ignore_case() {
        assert!(eq_ignore_case("AlIcE", "alice"));
        assert!(!eq_ignore_case("Alic", "alice"));
        assert!(Affix::ignoring_case("AB").is_prefix_of("abc"));
        assert!(!Affix::ignoring_case("AB").is_prefix_of("a"));
        assert!(Affix::ignoring_case(".PNG").is_suffix_of("x.png"));
        assert!(Affix::exact("AB").is_prefix_of("AB1234"));
        assert!(!Affix::exact("AB").is_prefix_of("ab1234"));
    }
}
