//! Rule ids and sub-ids: `MC002` addresses a rule and its whole family, `MC002.admin` one kind
//! of violation inside it (a sub-rule a policy header declares). Every layer that addresses
//! findings by id (rule settings, waivers, baselines, test cases, `explain`) asks here.

/// The parent of an id: `MC002` for `MC002.admin`, the id itself when it has no sub-id.
pub fn parent(id: &str) -> &str {
    id.split_once('.').map_or(id, |(parent, _)| parent)
}

/// Whether the id `addressed` (as written in a configuration, waiver, baseline or case) covers
/// findings reported as `code`: the same id, or `code` is a sub-rule of `addressed`. Case
/// matters (ids are compared as written everywhere else).
pub fn covers(addressed: &str, code: &str) -> bool {
    addressed == code
        || code
            .strip_prefix(addressed)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Whether `slug` is a valid sub-id suffix: lowercase ASCII letters, digits and `-`, starting
/// with a letter.
pub fn valid_slug(slug: &str) -> bool {
    slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_covers_its_family_and_nothing_else() {
        assert!(covers("MC002", "MC002"));
        assert!(covers("MC002", "MC002.admin"));
        assert!(covers("MC002.admin", "MC002.admin"));
        assert!(!covers("MC002.admin", "MC002"));
        assert!(!covers("MC00", "MC002.admin"));
        assert!(!covers("MC002", "MC0021"));
        assert!(!covers("MC002.admin", "MC002.admin-x"));
        assert_eq!(parent("MC002.admin"), "MC002");
        assert_eq!(parent("F03"), "F03");
    }

    #[test]
    fn slugs_are_lowercase_words() {
        assert!(valid_slug("admin"));
        assert!(valid_slug("late-cancel"));
        assert!(!valid_slug("Admin"));
        assert!(!valid_slug(""));
        assert!(!valid_slug("1st"));
        assert!(!valid_slug("a.b"));
    }
}
