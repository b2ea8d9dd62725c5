//! Applicability pre-conditions of a policy header (`//! applies: …`): a tiny condition on a
//! document's top-level scalar fields, parsed once at load and tested natively, so that a
//! (policy, document) pair whose script would return at once never enters Rhai.
//!
//! ```text
//! condition   := conjunction ("or" conjunction)*
//! conjunction := term ("and" term)*
//! term        := "(" condition ")" | "has(" NAME ")"
//!              | NAME ("==" | "!=") LITERAL | NAME ["not"] "in" "[" LITERAL ("," LITERAL)* "]"
//! LITERAL     := "text" | true | false | () | integer
//! ```
//!
//! The comparisons mean what the same comparison of `doc.NAME` means in Rhai. A pair is skipped
//! only when the condition is decidably false: every field it names is sound (not marked invalid
//! by the schema or a dangling reference), is a plain scalar (text, boolean, integer, null), or is
//! absent and declared by the kind's schema (`()`). Otherwise the script runs and decides itself,
//! exactly as without the header.

use crate::model::Kind;
use crate::repository::Document;

/// A literal of a pre-condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Text(String),
    Int(i64),
    Bool(bool),
    Unit,
}

/// A parsed condition; fields are indexes into [`Applies::fields`].
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Or(Vec<Condition>),
    And(Vec<Condition>),
    /// `field == literal` (`equal`) or `field != literal`.
    Compare {
        field: usize,
        equal: bool,
        literal: Literal,
    },
    /// `field in [...]` (`inside`) or `field not in [...]`.
    In {
        field: usize,
        inside: bool,
        list: Vec<Literal>,
    },
    /// `has(field)`: the document has the field (even `null`), as `doc.has(field)`.
    Has {
        field: usize,
    },
}

/// One `applies:` line: the condition, for one kind of the policy or (`kind: None`) for all.
#[derive(Clone, Debug, PartialEq)]
pub struct Applies {
    pub kind: Option<Kind>,
    /// The condition as written (for `explain` and errors).
    pub text: String,
    pub condition: Condition,
    /// The fields the condition names, in order of first mention.
    pub fields: Vec<String>,
}

/// A document field's value as a pre-condition sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar<'a> {
    Unit,
    Bool(bool),
    Int(i64),
    Float,
    Text(&'a str),
}

impl Applies {
    /// Parses the value of an `applies:` header line: an optional `Kind:` prefix, then the
    /// condition.
    pub fn parse(value: &str) -> Result<Applies, String> {
        let mut kind = None;
        let mut text = value.trim();
        if let Some((head, rest)) = text.split_once(':') {
            let head = head.trim();
            if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphabetic()) {
                kind = Some(Kind::parse(head).ok_or_else(|| {
                    format!(
                        "unknown kind `{head}` in `applies`; kinds are {}",
                        Kind::ALL.map(Kind::as_str).join(", ")
                    )
                })?);
                text = rest.trim();
            }
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            fields: Vec::new(),
        };
        let condition = parser.condition(0)?;
        if let Some(token) = parser.tokens.get(parser.at) {
            return Err(format!(
                "`applies`: expected `and`, `or` or the end, found {}",
                token.describe()
            ));
        }
        Ok(Applies {
            kind,
            text: text.to_string(),
            condition,
            fields: parser.fields,
        })
    }

    /// Whether the policy applies to `doc`: `Some(false)` only when the script, run on `doc`,
    /// would return without reporting or reading anything else; `None` when that cannot be
    /// decided natively (an invalid field, a value that is not a plain scalar, an unknown
    /// name): the script must run. `known(name)`: the kind's schema declares the field.
    pub fn applies(&self, doc: &Document, known: impl Fn(&str) -> bool) -> Option<bool> {
        let mut values: Vec<Field<'_>> = Vec::with_capacity(self.fields.len());
        for name in &self.fields {
            if doc.is_invalid(name) {
                return None;
            }
            values.push(match doc.value.get(name.as_str()) {
                None if known(name) => Field {
                    present: false,
                    value: Some(Scalar::Unit),
                },
                // Unknown to the schema: a comparison is an error in the script; `has` is not.
                None => Field {
                    present: false,
                    value: None,
                },
                Some(value) => Field {
                    present: true,
                    value: Some(scalar(value)?),
                },
            });
        }
        evaluate(&self.condition, &values)
    }
}

fn scalar(value: &serde_json::Value) -> Option<Scalar<'_>> {
    use serde_json::Value;
    Some(match value {
        Value::Null => Scalar::Unit,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => n.as_i64().map_or(Scalar::Float, Scalar::Int),
        Value::String(s) => Scalar::Text(s),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// `value == literal` as Rhai computes it, `None` where this module does not follow Rhai
/// (a float against an integer: Rhai compares them as numbers with a tolerance).
fn equal(value: Scalar<'_>, literal: &Literal) -> Option<bool> {
    Some(match (value, literal) {
        (Scalar::Text(a), Literal::Text(b)) => a == b,
        (Scalar::Int(a), Literal::Int(b)) => a == *b,
        (Scalar::Bool(a), Literal::Bool(b)) => a == *b,
        (Scalar::Unit, Literal::Unit) => true,
        (Scalar::Float, Literal::Int(_)) => return None,
        // Different, non-numeric types: `==` is false and `!=` true in Rhai.
        _ => false,
    })
}

/// A named field of the document being tested: whether it is present, and its value as a
/// comparison reads it (`None`: a comparison cannot be decided natively).
#[derive(Clone, Copy, Debug)]
struct Field<'a> {
    present: bool,
    value: Option<Scalar<'a>>,
}

fn evaluate(condition: &Condition, values: &[Field<'_>]) -> Option<bool> {
    match condition {
        Condition::Or(terms) => {
            for term in terms {
                if evaluate(term, values)? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Condition::And(terms) => {
            for term in terms {
                if !evaluate(term, values)? {
                    return Some(false);
                }
            }
            Some(true)
        }
        Condition::Compare {
            field,
            equal: eq,
            literal,
        } => Some(equal(values[*field].value?, literal)? == *eq),
        Condition::In {
            field,
            inside,
            list,
        } => {
            let value = values[*field].value?;
            let mut found = false;
            for literal in list {
                found |= equal(value, literal)?;
            }
            Some(found == *inside)
        }
        // `has` reads no value: the field is sound (checked above) and present, even `null`.
        Condition::Has { field } => Some(values[*field].present),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Name(String),
    Literal(Literal),
    Equal,
    NotEqual,
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(n) => format!("`{n}`"),
            Token::Literal(Literal::Text(t)) => format!("`\"{t}\"`"),
            Token::Literal(Literal::Int(i)) => format!("`{i}`"),
            Token::Literal(Literal::Bool(b)) => format!("`{b}`"),
            Token::Literal(Literal::Unit) => "`()`".to_string(),
            Token::Equal => "`==`".to_string(),
            Token::NotEqual => "`!=`".to_string(),
            Token::Open => "`(`".to_string(),
            Token::Close => "`)`".to_string(),
            Token::OpenList => "`[`".to_string(),
            Token::CloseList => "`]`".to_string(),
            Token::Comma => "`,`".to_string(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '=' | '!' => {
                if chars.next_if(|&(_, n)| n == '=').is_none() {
                    return Err(format!(
                        "`applies`: expected `==` or `!=` at `{}`",
                        &text[at..]
                    ));
                }
                tokens.push(if c == '=' {
                    Token::Equal
                } else {
                    Token::NotEqual
                });
            }
            '(' if chars.next_if(|&(_, n)| n == ')').is_some() => {
                tokens.push(Token::Literal(Literal::Unit));
            }
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '[' => tokens.push(Token::OpenList),
            ']' => tokens.push(Token::CloseList),
            ',' => tokens.push(Token::Comma),
            '"' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => {
                            return Err("`applies`: escapes are not supported in text".to_string())
                        }
                        Some((_, c)) => value.push(c),
                        None => return Err("`applies`: unterminated text".to_string()),
                    }
                }
                tokens.push(Token::Literal(Literal::Text(value)));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut end = at + c.len_utf8();
                while let Some((i, _)) = chars.next_if(|&(_, n)| n.is_ascii_digit()) {
                    end = i + 1;
                }
                let number = &text[at..end];
                let value = number
                    .parse::<i64>()
                    .map_err(|_| format!("`applies`: `{number}` is not an integer"))?;
                tokens.push(Token::Literal(Literal::Int(value)));
            }
            c if c.is_ascii_lowercase() || c == '_' => {
                let mut end = at + 1;
                while let Some((i, n)) = chars
                    .next_if(|&(_, n)| n.is_ascii_lowercase() || n.is_ascii_digit() || n == '_')
                {
                    end = i + n.len_utf8();
                }
                tokens.push(match &text[at..end] {
                    "true" => Token::Literal(Literal::Bool(true)),
                    "false" => Token::Literal(Literal::Bool(false)),
                    name => Token::Name(name.to_string()),
                });
            }
            other => return Err(format!("`applies`: unexpected `{other}`")),
        }
    }
    Ok(tokens)
}

/// Nested parentheses deeper than this are refused (a header is short).
const MAX_NESTING: usize = 8;

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    fields: Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Name(n)) if n == word) {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, token: Token) -> Result<(), String> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            Some(t) => Err(format!(
                "`applies`: expected {}, found {}",
                token.describe(),
                t.describe()
            )),
            None => Err(format!(
                "`applies`: expected {}, found the end",
                token.describe()
            )),
        }
    }

    fn field(&mut self, name: String) -> usize {
        if let Some(at) = self.fields.iter().position(|f| *f == name) {
            return at;
        }
        self.fields.push(name);
        self.fields.len() - 1
    }

    fn condition(&mut self, depth: usize) -> Result<Condition, String> {
        if depth > MAX_NESTING {
            return Err("`applies`: parentheses nested too deeply".to_string());
        }
        let mut terms = vec![self.conjunction(depth)?];
        while self.keyword("or") {
            terms.push(self.conjunction(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn conjunction(&mut self, depth: usize) -> Result<Condition, String> {
        let mut terms = vec![self.term(depth)?];
        while self.keyword("and") {
            terms.push(self.term(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::And(terms)
        })
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Literal(literal)) => Ok(literal),
            Some(t) => Err(format!(
                "`applies`: expected a literal (`\"text\"`, an integer, `true`, `false` or `()`), found {}",
                t.describe()
            )),
            None => Err("`applies`: expected a literal, found the end".to_string()),
        }
    }

    fn term(&mut self, depth: usize) -> Result<Condition, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.condition(depth + 1)?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Name(name)) if name == "has" => {
                self.expect(Token::Open)?;
                let field = match self.next() {
                    Some(Token::Name(name)) => self.field(name),
                    _ => return Err("`applies`: `has` takes a field name".to_string()),
                };
                self.expect(Token::Close)?;
                Ok(Condition::Has { field })
            }
            Some(Token::Name(name)) if !matches!(name.as_str(), "and" | "or" | "not" | "in") => {
                let field = self.field(name);
                match self.next() {
                    Some(Token::Equal) => Ok(Condition::Compare {
                        field,
                        equal: true,
                        literal: self.literal()?,
                    }),
                    Some(Token::NotEqual) => Ok(Condition::Compare {
                        field,
                        equal: false,
                        literal: self.literal()?,
                    }),
                    Some(Token::Name(word)) if word == "in" || word == "not" => {
                        let inside = word == "in";
                        if !inside && !self.keyword("in") {
                            return Err("`applies`: expected `in` after `not`".to_string());
                        }
                        self.expect(Token::OpenList)?;
                        let mut list = vec![self.literal()?];
                        while self.peek() == Some(&Token::Comma) {
                            self.at += 1;
                            list.push(self.literal()?);
                        }
                        self.expect(Token::CloseList)?;
                        Ok(Condition::In {
                            field,
                            inside,
                            list,
                        })
                    }
                    Some(t) => Err(format!(
                        "`applies`: expected `==`, `!=`, `in` or `not in` after a field name, found {}",
                        t.describe()
                    )),
                    None => Err(
                        "`applies`: expected `==`, `!=`, `in` or `not in` after a field name, found the end"
                            .to_string(),
                    ),
                }
            }
            Some(t) => Err(format!(
                "`applies`: expected a field name, `has(…)` or `(`, found {}",
                t.describe()
            )),
            None => Err("`applies`: expected a condition, found the end".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::source::FileId;

    fn doc(yaml: &str, invalid: &[&str]) -> Document {
        let mut loaded = crate::yaml::load(yaml, 0, FileId(0), &Limits::default());
        let loaded = loaded.documents.remove(0);
        let mut doc = Document::sound(FileId(0), Kind::Subscription, loaded);
        for field in invalid {
            doc.mark_invalid(field);
        }
        doc
    }

    /// Fields the test schema declares.
    fn known(field: &str) -> bool {
        matches!(
            field,
            "billing_model" | "status" | "managed_by" | "channel" | "count" | "tags" | "ratio"
        )
    }

    fn decide(condition: &str, yaml: &str, invalid: &[&str]) -> Option<bool> {
        Applies::parse(condition)
            .unwrap()
            .applies(&doc(yaml, invalid), known)
    }

    #[test]
    fn parses_the_grammar() {
        let a = Applies::parse(r#"billing_model == "license" and managed_by != ()"#).unwrap();
        assert_eq!(a.kind, None);
        assert_eq!(a.fields, ["billing_model", "managed_by"]);
        let a = Applies::parse(
            r#"Subscription: (status in ["active", "suspended"] or count == -3) and not_there not in [true, ()]"#,
        )
        .unwrap();
        assert_eq!(a.kind, Some(Kind::Subscription));
        assert_eq!(
            a.condition,
            Condition::And(vec![
                Condition::Or(vec![
                    Condition::In {
                        field: 0,
                        inside: true,
                        list: vec![
                            Literal::Text("active".into()),
                            Literal::Text("suspended".into())
                        ],
                    },
                    Condition::Compare {
                        field: 1,
                        equal: true,
                        literal: Literal::Int(-3)
                    },
                ]),
                Condition::In {
                    field: 2,
                    inside: false,
                    list: vec![Literal::Bool(true), Literal::Unit],
                },
            ])
        );
        assert_eq!(
            Applies::parse("has(notes) or has(notes)").unwrap().fields,
            ["notes"]
        );
    }

    #[test]
    fn syntax_errors_say_what_was_expected() {
        let error = |text: &str| Applies::parse(text).unwrap_err();
        assert_eq!(
            error("status = \"x\""),
            "`applies`: expected `==` or `!=` at `= \"x\"`"
        );
        assert_eq!(
            error("status == active"),
            "`applies`: expected a literal (`\"text\"`, an integer, `true`, `false` or `()`), found `active`"
        );
        assert_eq!(
            error("status == \"a\" status == \"b\""),
            "`applies`: expected `and`, `or` or the end, found `status`"
        );
        assert_eq!(
            error("Subscriptions: status == \"a\""),
            "unknown kind `Subscriptions` in `applies`; kinds are Partner, Customer, Subscription, ResellerRelationship, DelegatedAdmin, IndirectPartnership, Transfer"
        );
        assert_eq!(
            error("(status == \"a\""),
            "`applies`: expected `)`, found the end"
        );
        assert_eq!(error("status in []"), "`applies`: expected a literal (`\"text\"`, an integer, `true`, `false` or `()`), found `]`");
        assert_eq!(error("doc.status == \"a\""), "`applies`: unexpected `.`");
        assert_eq!(
            error("\"a\\\"\" == status"),
            "`applies`: escapes are not supported in text"
        );
        assert_eq!(error(""), "`applies`: expected a condition, found the end");
        assert_eq!(
            error("((((((((((status == 1))))))))))"),
            "`applies`: parentheses nested too deeply"
        );
    }

    #[test]
    fn decides_on_sound_scalar_fields() {
        let c = r#"billing_model == "license" and managed_by != ()"#;
        assert_eq!(decide(c, "billing_model: usage\n", &[]), Some(false));
        assert_eq!(decide(c, "billing_model: license\n", &[]), Some(false));
        assert_eq!(
            decide(c, "billing_model: license\nmanaged_by: p1\n", &[]),
            Some(true)
        );
        // Absent and declared: `()`; null: `()`; another type: not equal.
        assert_eq!(decide(c, "{}\n", &[]), Some(false));
        assert_eq!(decide(c, "billing_model: null\n", &[]), Some(false));
        assert_eq!(decide(c, "billing_model: 7\n", &[]), Some(false));
        assert_eq!(
            decide(r#"status not in ["canceled"]"#, "status: canceled\n", &[]),
            Some(false)
        );
        // The loader leaves `null` values out: `has` is about the value a script sees.
        assert_eq!(decide("has(notes)", "notes: null\n", &[]), Some(false));
        assert_eq!(decide("has(notes)", "notes: x\n", &[]), Some(true));
        assert_eq!(decide("has(notes)", "{}\n", &[]), Some(false));
    }

    #[test]
    fn an_invalid_field_is_never_skipped_natively() {
        let c = r#"billing_model == "license" and managed_by != ()"#;
        // `billing_model` decides alone, but `managed_by` is invalid: the script must run (it
        // may read it and be skipped with S004).
        assert_eq!(decide(c, "billing_model: usage\n", &["managed_by"]), None);
        assert_eq!(
            decide(c, "billing_model: usage\n", &["billing_model"]),
            None
        );
        // The whole document invalid (`""`).
        assert_eq!(decide(c, "billing_model: usage\n", &[""]), None);
        assert_eq!(decide("has(notes)", "notes: x\n", &["notes"]), None);
        // Not a plain scalar, an undeclared absent name, a float against an integer.
        assert_eq!(decide(c, "billing_model: [license]\n", &[]), None);
        assert_eq!(decide(c, "billing_model: {a: 1}\n", &[]), None);
        assert_eq!(decide(r#"nonesuch == "x""#, "{}\n", &[]), None);
        assert_eq!(decide("ratio == 1", "ratio: 1.0\n", &[]), None);
        // Another field invalid does not matter.
        assert_eq!(
            decide(c, "billing_model: usage\n", &["status"]),
            Some(false)
        );
    }

    /// The condition as a Rhai expression over variables `v0`, `v1`, … (one per field).
    fn to_rhai(condition: &Condition) -> String {
        fn literal(l: &Literal) -> String {
            match l {
                Literal::Text(t) => format!("{t:?}"),
                Literal::Int(i) => i.to_string(),
                Literal::Bool(b) => b.to_string(),
                Literal::Unit => "()".to_string(),
            }
        }
        match condition {
            Condition::Or(terms) => format!(
                "({})",
                terms.iter().map(to_rhai).collect::<Vec<_>>().join(" || ")
            ),
            Condition::And(terms) => format!(
                "({})",
                terms.iter().map(to_rhai).collect::<Vec<_>>().join(" && ")
            ),
            Condition::Compare {
                field,
                equal,
                literal: l,
            } => format!(
                "(v{field} {} {})",
                if *equal { "==" } else { "!=" },
                literal(l)
            ),
            Condition::In {
                field,
                inside,
                list,
            } => format!(
                "({}(v{field} in [{}]))",
                if *inside { "" } else { "!" },
                list.iter().map(literal).collect::<Vec<_>>().join(", ")
            ),
            Condition::Has { .. } => unreachable!("not compared with Rhai"),
        }
    }

    /// Every decision taken natively is the one Rhai takes on the same values.
    #[test]
    fn decisions_agree_with_rhai() {
        let conditions = [
            r#"billing_model == "license""#,
            r#"billing_model != "license""#,
            "billing_model == ()",
            "billing_model != ()",
            "billing_model == true",
            "billing_model != false",
            "billing_model == 3",
            "billing_model != 3",
            r#"billing_model in ["license", "usage", (), 3, true]"#,
            r#"billing_model not in ["license", "3"]"#,
            r#"billing_model == "license" and status != "active" or status in ["x"]"#,
            r#"billing_model == "license" and (status != "active" or status in ["x"])"#,
        ];
        let values = [
            "",
            "null",
            "license",
            "usage",
            "\"3\"",
            "3",
            "-3",
            "3.0",
            "2.5",
            "true",
            "false",
            "[license]",
            "{a: 1}",
        ];
        let engine = rhai::Engine::new();
        let mut decided = 0;
        for text in conditions {
            let applies = Applies::parse(text).unwrap();
            let script = to_rhai(&applies.condition);
            for a in values {
                for b in ["", "active", "x", "3"] {
                    let mut yaml = String::new();
                    if !a.is_empty() {
                        yaml.push_str(&format!("billing_model: {a}\n"));
                    }
                    if !b.is_empty() {
                        yaml.push_str(&format!("status: {b}\n"));
                    }
                    if yaml.is_empty() {
                        yaml.push_str("{}\n");
                    }
                    let document = doc(&yaml, &[]);
                    let Some(native) = applies.applies(&document, known) else {
                        continue;
                    };
                    let mut scope = rhai::Scope::new();
                    for name in &applies.fields {
                        let value = document
                            .value
                            .get(name.as_str())
                            .map_or(rhai::Dynamic::UNIT, super::super::api::to_dynamic);
                        scope.push_dynamic(format!("v{}", scope.len()), value);
                    }
                    let rhai: bool = engine
                        .eval_expression_with_scope(&mut scope, &script)
                        .unwrap_or_else(|e| panic!("{script}: {e}"));
                    assert_eq!(native, rhai, "{text} on {yaml:?}");
                    decided += 1;
                }
            }
        }
        assert!(decided > 400, "only {decided} decisions compared");
    }
}
