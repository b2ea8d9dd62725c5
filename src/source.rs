//! Source files: their text, their display path and the byte → line/column mapping used only
//! when rendering. The mapping is an index built once per file (line starts, and for text that
//! is not ASCII a character count every [`CHAR_STEP`] bytes), so any offset converts in
//! O(log lines + CHAR_STEP): reporters stay linear in the number of findings, however long a
//! line is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A half-open byte range `[start, end)` into a source file's text.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ByteSpan {
    pub start: u32,
    pub end: u32,
}

impl ByteSpan {
    pub fn new(start: usize, end: usize) -> ByteSpan {
        ByteSpan {
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    pub fn empty_at(offset: usize) -> ByteSpan {
        ByteSpan::new(offset, offset)
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A place in a loaded file.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Location {
    pub file: FileId,
    pub span: ByteSpan,
}

/// Index of a file in a [`SourceMap`]. Files are numbered in sorted path order, so ids (and
/// everything ordered by them) do not depend on which worker loaded a file first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FileId(pub u32);

/// What kind of input a file is; decides how reporters present it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    Data,
    Schema,
    Policy,
    Config,
    TestCase,
}

/// One input file. The text is kept for rendering snippets; for files that could not be decoded
/// it is the longest valid UTF-8 prefix (enough to show where decoding failed).
#[derive(Debug)]
pub struct SourceFile {
    /// Path as shown to users: relative to the repository root where possible, `/`-separated.
    pub name: String,
    /// Path on disk (or a pseudo path such as `<builtin>/policies/MC002.rhai`).
    pub path: PathBuf,
    pub text: Arc<str>,
    pub role: FileRole,
    /// The xxh3-128 hash of the file's bytes, computed once (or known without reading the
    /// file, see [`SourceFile::unread`]).
    content_hash: OnceLock<u128>,
    /// Not read: `text` is empty and the content is known by its hash only.
    unread: bool,
    line_starts: OnceLock<Vec<u32>>,
    /// `None` for ASCII text (a column is a byte difference); else the number of characters
    /// that start before byte `k * CHAR_STEP`, for every `k`.
    char_counts: OnceLock<Option<Vec<u32>>>,
}

/// Distance in bytes between two character-count checkpoints.
pub const CHAR_STEP: usize = 1024;

/// A 1-based line and column; the column counts characters, as editors and SARIF do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

impl SourceFile {
    pub fn new(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        text: Arc<str>,
        role: FileRole,
    ) -> SourceFile {
        SourceFile {
            name: name.into(),
            path: path.into(),
            text,
            role,
            content_hash: OnceLock::new(),
            unread: false,
            line_starts: OnceLock::new(),
            char_counts: OnceLock::new(),
        }
    }

    /// A file whose content is known by its hash without reading it (the cache proved it
    /// unchanged by its metadata): its text is empty until [`SourceMap::set_text`] gives it.
    pub fn unread(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        content_hash: u128,
        role: FileRole,
    ) -> SourceFile {
        let file = SourceFile {
            unread: true,
            ..SourceFile::new(name, path, Arc::from(""), role)
        };
        let _ = file.content_hash.set(content_hash);
        file
    }

    /// Whether the file was not read (see [`SourceFile::unread`]).
    pub fn is_unread(&self) -> bool {
        self.unread
    }

    /// The xxh3-128 hash of the file's bytes (what the cache keys content by).
    pub fn content_hash(&self) -> u128 {
        *self
            .content_hash
            .get_or_init(|| twox_hash::XxHash3_128::oneshot(self.text.as_bytes()))
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0u32];
            for (i, b) in self.text.bytes().enumerate() {
                if b == b'\n' {
                    starts.push(i as u32 + 1);
                }
            }
            starts
        })
    }

    fn char_counts(&self) -> Option<&[u32]> {
        self.char_counts
            .get_or_init(|| {
                if self.text.is_ascii() {
                    return None;
                }
                let mut counts = Vec::with_capacity(self.text.len() / CHAR_STEP + 1);
                let mut count = 0u32;
                for chunk in self.text.as_bytes().chunks(CHAR_STEP) {
                    counts.push(count);
                    count += chunk.iter().filter(|&&b| !is_continuation(b)).count() as u32;
                }
                counts.push(count);
                Some(counts)
            })
            .as_deref()
    }

    /// Number of characters in `text[..offset]` (`offset` on a char boundary).
    fn chars_before(&self, offset: usize) -> usize {
        match self.char_counts() {
            None => offset,
            Some(counts) => {
                let checkpoint = offset / CHAR_STEP;
                let from = checkpoint * CHAR_STEP;
                counts[checkpoint] as usize
                    + self.text.as_bytes()[from..offset]
                        .iter()
                        .filter(|&&b| !is_continuation(b))
                        .count()
            }
        }
    }

    /// Number of lines (a final line break starts an empty last line).
    pub fn line_count(&self) -> u32 {
        self.line_starts().len() as u32
    }

    /// Byte offset where a 1-based line starts (the text's length past the last line).
    pub fn line_start(&self, line: u32) -> usize {
        let starts = self.line_starts();
        starts
            .get((line as usize).saturating_sub(1))
            .map_or(self.text.len(), |&s| s as usize)
    }

    /// Line and column of a byte offset (clamped to the text, moved back to a char boundary).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let mut offset = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let starts = self.line_starts();
        let line = match starts.binary_search(&(offset as u32)) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = starts[line] as usize;
        let column = self.chars_before(offset) - self.chars_before(line_start) + 1;
        LineCol {
            line: line as u32 + 1,
            column: column as u32,
        }
    }

    /// Start and end (exclusive end converted to the last covered position's column + 1).
    pub fn span_lines(&self, span: ByteSpan) -> (LineCol, LineCol) {
        (self.line_col(span.start), self.line_col(span.end))
    }

    /// The text of one 1-based line without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        let starts = self.line_starts();
        let Some(&start) = starts.get(line as usize - 1) else {
            return "";
        };
        let end = starts
            .get(line as usize)
            .map_or(self.text.len(), |&e| e as usize);
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }
}

/// Whether a byte continues a UTF-8 character (rather than starting one).
fn is_continuation(byte: u8) -> bool {
    byte & 0xc0 == 0x80
}

/// All files of a run, addressed by [`FileId`]. Each file is registered once, with its text.
///
/// A map may start at a later id ([`SourceMap::starting_at`]): files whose ids come after
/// others that are still being read (schemas, compiled before the data files are loaded but
/// numbered after them) are registered there and [`SourceMap::append`]ed when their turn comes.
#[derive(Debug, Default)]
pub struct SourceMap {
    /// Id of `files[0]`.
    first: u32,
    files: Vec<Arc<SourceFile>>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// An empty map whose first file gets the id `first`.
    pub fn starting_at(first: FileId) -> SourceMap {
        SourceMap {
            first: first.0,
            files: Vec::new(),
        }
    }

    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(Arc::new(file));
        FileId(self.first + self.files.len() as u32 - 1)
    }

    /// The id the next [`SourceMap::add`] returns.
    pub fn next_id(&self) -> FileId {
        FileId(self.first + self.files.len() as u32)
    }

    /// Moves the files of `later` (a map [`SourceMap::starting_at`] this map's next id) to the
    /// end of this map, keeping their ids.
    pub fn append(&mut self, later: SourceMap) {
        assert_eq!(
            later.first,
            self.next_id().0,
            "appended files must continue the ids of this map"
        );
        self.files.extend(later.files);
    }

    /// Moves the files of `other`, a map numbered from 0, to the end of this map; returns how
    /// much their ids grew (a file `FileId(i)` of `other` is now `FileId(i + shift)`).
    pub fn append_renumbered(&mut self, other: SourceMap) -> u32 {
        assert_eq!(other.first, 0, "a map numbered from 0");
        let shift = self.next_id().0;
        self.files.extend(other.files);
        shift
    }

    /// Gives an unread file ([`SourceFile::unread`]) its text, read later, which must hash to
    /// its known content; `false` (and nothing changed) when it does not.
    pub fn set_text(&mut self, id: FileId, text: Arc<str>) -> bool {
        let index = (id.0 - self.first) as usize;
        let old = &self.files[index];
        if twox_hash::XxHash3_128::oneshot(text.as_bytes()) != old.content_hash() {
            return false;
        }
        let file = SourceFile::new(old.name.clone(), old.path.clone(), text, old.role);
        self.files[index] = Arc::new(file);
        true
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        let index =
            id.0.checked_sub(self.first)
                .expect("file id before the first file of this map");
        &self.files[index as usize]
    }

    /// The number of files in this map.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(self.first + i as u32), f.as_ref()))
    }
}

/// Byte offset in `text` of a 1-based line and 1-based character column, as parsers report
/// them (serde_json, Rhai, policy headers). `None` if `text` has fewer lines. A column past the
/// line's last character gives `line_start + past_end(line)`, `line` with its line break, so
/// each caller keeps its own rule for "after the end of the line".
pub fn offset_of(
    text: &str,
    line: usize,
    column: usize,
    past_end: impl FnOnce(&str) -> usize,
) -> Option<usize> {
    let mut line_start = 0;
    for (index, line_text) in text.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            let in_line = line_text
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or_else(|| past_end(line_text), |(byte, _)| byte);
            return Some(line_start + in_line);
        }
        line_start += line_text.len();
    }
    None
}

/// Shows `path` relative to `base` when it is inside it, always with `/` separators.
pub fn display_path(path: &Path, base: &Path) -> String {
    let shown = path.strip_prefix(base).unwrap_or(path);
    let text = shown.to_string_lossy().replace('\\', "/");
    if text.is_empty() {
        ".".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> SourceFile {
        SourceFile::new(name, name, Arc::from(name), FileRole::Data)
    }

    #[test]
    fn a_map_starting_later_keeps_its_ids_when_appended() {
        let mut later = SourceMap::starting_at(FileId(2));
        assert_eq!(later.add(named("schema")), FileId(2));
        assert_eq!(later.get(FileId(2)).name, "schema");
        let mut sources = SourceMap::new();
        assert_eq!(sources.add(named("a")), FileId(0));
        assert_eq!(sources.add(named("b")), FileId(1));
        sources.append(later);
        let names: Vec<_> = sources
            .iter()
            .map(|(id, f)| (id.0, f.name.clone()))
            .collect();
        assert_eq!(
            names,
            [(0, "a".into()), (1, "b".into()), (2, "schema".into())]
        );
        assert_eq!(sources.next_id(), FileId(3));
    }

    #[test]
    #[should_panic(expected = "continue the ids")]
    fn appending_out_of_order_is_refused() {
        let mut sources = SourceMap::new();
        sources.add(named("a"));
        sources.append(SourceMap::starting_at(FileId(5)));
    }

    #[test]
    fn offset_of_counts_lines_and_characters() {
        let text = "ab\ncé€d\n\nlast";
        assert_eq!(offset_of(text, 1, 1, str::len), Some(0));
        assert_eq!(offset_of(text, 1, 2, str::len), Some(1));
        // `é` is two bytes: the fourth character of line 2 starts at byte 3 + 1 + 2 + 3.
        assert_eq!(offset_of(text, 2, 4, str::len), Some(9));
        assert_eq!(offset_of(text, 4, 1, str::len), Some(text.len() - 4));
        assert_eq!(offset_of(text, 5, 1, str::len), None);
        assert_eq!(offset_of(text, 0, 1, str::len), None);
    }

    #[test]
    fn offset_of_past_the_line_end_follows_the_caller_rule() {
        let text = "ab  \nnext";
        // With the line break: the start of the next line.
        assert_eq!(offset_of(text, 1, 9, str::len), Some(5));
        // Trimmed: right after the last visible character.
        assert_eq!(offset_of(text, 1, 9, |l| l.trim_end().len()), Some(2));
        assert_eq!(offset_of(text, 2, 9, str::len), Some(text.len()));
    }

    fn file(text: &str) -> SourceFile {
        SourceFile::new("t.yaml", "t.yaml", Arc::from(text), FileRole::Data)
    }

    #[test]
    fn line_col_counts_characters() {
        let f = file("név: 1\nab: é2\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        // `:` after "név" is byte 4 (é is two bytes) but column 4.
        assert_eq!(f.line_col(4), LineCol { line: 1, column: 4 });
        let second = f.text.find("é2").unwrap() as u32;
        assert_eq!(f.line_col(second), LineCol { line: 2, column: 5 });
        assert_eq!(f.line_text(2), "ab: é2");
    }

    #[test]
    fn line_col_with_crlf() {
        let f = file("a: 1\r\nb: 2\r\n");
        assert_eq!(f.line_col(6), LineCol { line: 2, column: 1 });
        assert_eq!(f.line_text(1), "a: 1");
    }

    #[test]
    fn columns_on_long_lines_count_characters_across_checkpoints() {
        let mut text = "ab\n".to_string();
        for i in 0..5 * CHAR_STEP {
            text.push(if i % 3 == 0 { 'é' } else { 'x' });
        }
        let f = file(&text);
        for offset in (3..text.len()).step_by(97) {
            let offset = (0..=offset)
                .rev()
                .find(|&o| text.is_char_boundary(o))
                .unwrap();
            let expected = text[3..offset].chars().count() as u32 + 1;
            assert_eq!(
                f.line_col(offset as u32),
                LineCol {
                    line: 2,
                    column: expected
                }
            );
        }
        assert_eq!(f.line_count(), 2);
        assert_eq!(f.line_start(2), 3);
        assert_eq!(f.line_start(3), text.len());
    }

    #[test]
    fn offset_inside_a_character_moves_back() {
        let f = file("é");
        assert_eq!(f.line_col(1), LineCol { line: 1, column: 1 });
    }
}
