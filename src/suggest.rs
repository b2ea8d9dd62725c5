//! "Did you mean": the closest known name to a misspelt one, for help texts (unknown kinds,
//! fields, enum values, references, rule ids).

/// The closest candidate by edit distance, if close enough to be a likely typo.
pub fn closest<'a>(text: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = text.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        // A cheap length filter first: a dangling reference in a repository of 100,000
        // customers must not cost 100,000 string similarity computations.
        if candidate.len().abs_diff(wanted.len()) > 3 {
            continue;
        }
        let score = if candidate.bytes().any(|b| b.is_ascii_uppercase()) {
            strsim::jaro_winkler(&wanted, &candidate.to_ascii_lowercase())
        } else {
            strsim::jaro_winkler(&wanted, candidate)
        };
        if score >= 0.85 && best.is_none_or(|(s, c)| score > s || (score == s && candidate < c)) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn a_near_miss_finds_its_name() {
        let known = ["Customer", "Subscription", "Partner"];
        assert_eq!(closest("Custmer", known.into_iter()), Some("Customer"));
        assert_eq!(closest("customer", known.into_iter()), Some("Customer"));
    }

    #[test]
    fn nothing_close_gives_nothing() {
        let known = ["Customer", "Subscription"];
        assert_eq!(closest("Transfer", known.into_iter()), None);
        // Lengths more than three apart are never compared.
        assert_eq!(closest("Sub", known.into_iter()), None);
        assert_eq!(closest("x", std::iter::empty()), None);
    }

    #[test]
    fn ties_go_to_the_smaller_name_whatever_the_order() {
        let forward = ["ab1", "ab2"];
        let backward = ["ab2", "ab1"];
        assert_eq!(closest("ab", forward.into_iter()), Some("ab1"));
        assert_eq!(closest("ab", backward.into_iter()), Some("ab1"));
    }
}
