//! The incremental cache: a folder (`.channelguard-cache/` at the repository root by default)
//! of layer files, each the saved result of one stage of the last run, valid for one "world"
//! (a [`Fingerprint`] of everything that invalidates the layer wholesale).
//!
//! The cache is untrusted input like any other file. A layer file is read through
//! [`crate::input::read_bounded`] (bounded, regular files inside the cache folder only) and used
//! only when its magic, format version, layer name, world fingerprint, length and payload
//! checksum all match and its payload deserializes completely; anything else is ignored with a
//! note (for stderr, never the report) and rebuilt. Layers are written to a temporary file in
//! the folder and renamed over the old one, so concurrent runs never see a torn file (the last
//! writer wins). A folder that cannot be created or written leaves the run uncached. Each save
//! rewrites a layer with only the current run's entries, so the cache stays proportional to
//! the repository. See docs/design.md ("The cache").

pub mod files;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;
use twox_hash::XxHash3_128;

use crate::input::{read_bounded, Origin, ReadScope, Refused};

/// The cache folder's name at the repository root (`--cache-dir` replaces it).
pub const DEFAULT_DIR_NAME: &str = ".channelguard-cache";
/// `CHANNELGUARD_CACHE_DIR`: where the cache goes when no `--cache-dir` is given (tests point
/// it at a temporary folder so that runs on fixtures leave nothing in the source tree).
pub const DIR_ENV: &str = "CHANNELGUARD_CACHE_DIR";
/// `CHANNELGUARD_NO_CACHE`: any value but empty, `0` or `false` runs without the cache, as
/// `--no-cache` does (CI jobs that must not write into the checkout; the test suite, so that
/// tests running at the same time never share a cache).
pub const NO_CACHE_ENV: &str = "CHANNELGUARD_NO_CACHE";

/// Whether `CHANNELGUARD_NO_CACHE` turns the cache off.
pub fn disabled_by_environment() -> bool {
    std::env::var_os(NO_CACHE_ENV)
        .is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}
/// Bumped whenever the layout of any layer changes.
pub const FORMAT_VERSION: u32 = 3;
const MAGIC: &[u8; 8] = b"CGCACHE\0";
const HEADER_LEN: usize = 8 + 4 + 16 + 16 + 8 + 16;
/// The marker file that makes a folder ours (the Cache Directory Tagging Specification, so
/// backup tools skip it too). `cache clean` removes only a folder that holds it.
const TAG_FILE: &str = "CACHEDIR.TAG";
const TAG_SIGNATURE: &str = "Signature: 8a477f597d28d172789f06886806bc55\n";
const TAG_TEXT: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by channelguard.\n\
# It is safe to delete this folder: `channelguard cache clean`.\n";
const TAG_OWNER_LINE: &str = "# This file is a cache directory tag created by channelguard.";
/// Ignores the whole folder in git, wherever it is (as ruff and pytest do).
const GITIGNORE_TEXT: &str = "# Created by channelguard: the cache is local state.\n*\n";
const LAYER_EXTENSION: &str = "bin";

/// A 128-bit xxh3 digest: of a file's content, or of everything a layer depends on.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Fingerprint(pub [u8; 16]);

impl Fingerprint {
    /// The digest of `bytes` alone (content hashes).
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(XxHash3_128::oneshot(bytes).to_le_bytes())
    }
}

/// Builds a [`Fingerprint`] from labelled parts; each label and part is length-prefixed, so
/// no two different lists of parts give the same stream.
pub struct FingerprintBuilder(XxHash3_128);

impl Default for FingerprintBuilder {
    fn default() -> Self {
        FingerprintBuilder::new()
    }
}

impl FingerprintBuilder {
    /// A builder that already holds the format version and the running binary's identity.
    pub fn new() -> FingerprintBuilder {
        let mut builder = FingerprintBuilder(XxHash3_128::new());
        builder.add("format", &FORMAT_VERSION.to_le_bytes());
        builder.add("version", env!("CARGO_PKG_VERSION").as_bytes());
        builder.add("binary", &binary_identity().0);
        builder
    }

    pub fn add(&mut self, label: &str, part: &[u8]) -> &mut FingerprintBuilder {
        self.0.write(&(label.len() as u64).to_le_bytes());
        self.0.write(label.as_bytes());
        self.0.write(&(part.len() as u64).to_le_bytes());
        self.0.write(part);
        self
    }

    pub fn finish(&self) -> Fingerprint {
        Fingerprint(self.0.finish_128().to_le_bytes())
    }
}

static IDENTITY: std::sync::OnceLock<Fingerprint> = std::sync::OnceLock::new();

/// The digest of the running executable's bytes, computed once: any rebuild (even at the same
/// version) invalidates every layer; the same binary restored in CI keeps them valid. Zero
/// when the executable cannot be read (then the version alone identifies the binary).
/// [`Store::open`] first looks for it in the cache folder's `binary` record, keyed by the
/// executable's metadata, so that an unchanged binary is not read again (88 MB for a release
/// build with line tables).
pub fn binary_identity() -> Fingerprint {
    *IDENTITY.get_or_init(|| {
        let Some(exe) = std::env::current_exe().ok() else {
            return Fingerprint([0; 16]);
        };
        let Some(dir) = exe.parent() else {
            return Fingerprint([0; 16]);
        };
        match read_bounded(&exe, &ReadScope::new(dir), Origin::Named, 1 << 30) {
            Ok(bytes) => Fingerprint::of(&bytes),
            Err(_) => Fingerprint([0; 16]),
        }
    })
}

/// What identifies a file without reading it (as git's index does): path, size, modification
/// and change times, inode and device.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub path: Vec<u8>,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl Stamp {
    pub fn of(path: &Path, meta: &std::fs::Metadata) -> Stamp {
        let nanos = |t: std::io::Result<std::time::SystemTime>| -> i128 {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128)
        };
        #[cfg(unix)]
        let (ctime_ns, ino, dev) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
                meta.dev(),
            )
        };
        #[cfg(not(unix))]
        let (ctime_ns, ino, dev) = (0, 0, 0);
        Stamp {
            path: path.as_os_str().as_encoded_bytes().to_vec(),
            size: meta.len(),
            mtime_ns: nanos(meta.modified()),
            ctime_ns,
            ino,
            dev,
        }
    }

    /// Whether the file may still change within the same timestamp (modified less than two
    /// seconds before `now`): such a stamp proves nothing and is not recorded.
    pub fn is_racy(&self, now: std::time::SystemTime) -> bool {
        let now = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        self.mtime_ns.max(self.ctime_ns) > now - crate::fault::settle_window_ns()
    }
}

/// The cache folder of one run. Never fails: problems become [`Store::take_notes`] and the run
/// goes on with less (or no) caching.
pub struct Store {
    dir: PathBuf,
    scope: ReadScope,
    /// Largest layer file read or written.
    max_layer_bytes: u64,
    readable: bool,
    writable: bool,
    notes: Mutex<Vec<String>>,
}

impl Store {
    /// Opens (creating if needed) the cache folder `dir`. A folder that is a symbolic link, is
    /// not a directory, or already holds files but not our marker is refused (nothing is read
    /// from or written into it); one that cannot be created or written is read but not written.
    pub fn open(dir: &Path, max_layer_bytes: u64) -> Store {
        let mut store = Store {
            dir: dir.to_path_buf(),
            scope: ReadScope::default(),
            max_layer_bytes,
            readable: false,
            writable: false,
            notes: Mutex::new(Vec::new()),
        };
        let shown = dir.display().to_string();
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                store.note(format!(
                    "cache folder `{shown}` is a symbolic link; running without the cache"
                ));
                return store;
            }
            Ok(meta) if !meta.is_dir() => {
                store.note(format!(
                    "cache folder `{shown}` is not a directory; running without the cache"
                ));
                return store;
            }
            Ok(_) => {
                if !is_cache_dir(dir) {
                    // Empty, or holding only what another run that is creating the folder at
                    // the same time writes first.
                    let empty = std::fs::read_dir(dir).is_ok_and(|entries| {
                        entries.flatten().all(|e| {
                            let name = e.file_name();
                            let name = name.to_string_lossy();
                            name.starts_with(".tmp-") || name == ".gitignore" || name == TAG_FILE
                        })
                    });
                    if !empty {
                        store.note(format!(
                            "`{shown}` is not a channelguard cache folder (no {TAG_FILE} of ours) and is not empty; running without the cache"
                        ));
                        return store;
                    }
                    if let Err(e) = write_markers(dir) {
                        store.note(format!(
                            "cannot write to the cache folder `{shown}` ({e}); running without the cache"
                        ));
                        return store;
                    }
                }
            }
            Err(_) => {
                if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| write_markers(dir)) {
                    store.note(format!(
                        "cannot create the cache folder `{shown}` ({e}); running without the cache"
                    ));
                    return store;
                }
            }
        }
        store.scope = ReadScope::new(dir);
        store.readable = true;
        store.writable = true;
        store.recall_binary_identity();
        store.remove_stale_temporaries();
        store
    }

    /// Removes temporaries that a run killed while writing left behind (older than ten
    /// minutes, so that a concurrent run's are left alone): the folder never grows with them.
    fn remove_stale_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        for entry in entries.flatten() {
            let stale = entry.file_name().to_string_lossy().starts_with(".tmp-")
                && entry
                    .metadata()
                    .is_ok_and(|m| m.is_file() && m.modified().is_ok_and(|t| t < cutoff));
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Sets [`binary_identity`] from the `binary` record when the executable's stamp is the
    /// recorded one; else hashes the executable and records it.
    fn recall_binary_identity(&self) {
        if IDENTITY.get().is_some() {
            return;
        }
        let Some(stamp) = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(Stamp::of(&exe, &std::fs::metadata(&exe).ok()?)))
        else {
            return;
        };
        let world = Fingerprint::of(b"channelguard binary record 1");
        if let Some((recorded, identity)) =
            self.load_layer::<(Stamp, Fingerprint)>("binary", &world)
        {
            if recorded == stamp {
                let _ = IDENTITY.set(identity);
                return;
            }
        }
        let identity = binary_identity();
        if !stamp.is_racy(std::time::SystemTime::now()) {
            self.save_layer("binary", &world, &(stamp, identity));
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Notes for stderr (what was ignored or could not be written), once.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records a note (also for layers that check their own entries).
    pub fn note(&self, note: String) {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(note);
    }

    /// The value saved by the last run as layer `name`, if it was saved for the same `world`
    /// and is intact. A layer of another world is silently `None` (the normal invalidation);
    /// anything damaged or foreign is `None` with a note.
    pub fn load_layer<T: DeserializeOwned>(&self, name: &str, world: &Fingerprint) -> Option<T> {
        let payload = self.load_layer_bytes(name, world)?;
        match postcard::take_from_bytes::<T>(&payload) {
            Ok((value, [])) => Some(value),
            Ok(_) => {
                self.ignored(name, "it has bytes after its content");
                None
            }
            Err(e) => {
                self.ignored(name, &format!("its content cannot be read ({e})"));
                None
            }
        }
    }

    /// Saves `value` as layer `name` for `world`, replacing the previous one atomically.
    pub fn save_layer<T: Serialize>(&self, name: &str, world: &Fingerprint, value: &T) {
        match postcard::to_stdvec(value) {
            Ok(payload) => self.save_layer_bytes(name, world, &payload),
            Err(e) => self.note(format!("cannot save the cache layer `{name}`: {e}")),
        }
    }

    /// Like [`Store::load_layer`], for a layer with its own framing.
    pub fn load_layer_bytes(&self, name: &str, world: &Fingerprint) -> Option<Vec<u8>> {
        if !self.readable || !valid_name(name) {
            return None;
        }
        let path = self.layer_path(name);
        let bytes = match read_bounded(&path, &self.scope, Origin::Named, self.max_layer_bytes) {
            Ok(bytes) => bytes,
            Err(Refused::Missing) => return None,
            Err(refused) => {
                self.ignored(name, &refused.to_string());
                return None;
            }
        };
        match check_header(&bytes, name, world) {
            Ok(()) => {}
            Err(None) => return None,
            Err(Some(problem)) => {
                self.ignored(name, problem);
                return None;
            }
        }
        let mut bytes = bytes;
        bytes.drain(..HEADER_LEN);
        Some(bytes)
    }

    /// Like [`Store::save_layer`], for a layer with its own framing.
    pub fn save_layer_bytes(&self, name: &str, world: &Fingerprint, payload: &[u8]) {
        if !self.writable || !valid_name(name) {
            return;
        }
        if (HEADER_LEN + payload.len()) as u64 > self.max_layer_bytes {
            self.note(format!(
                "cache layer `{name}` would be larger than {} bytes; not saved",
                self.max_layer_bytes
            ));
            return;
        }
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&Fingerprint::of(name.as_bytes()).0);
        bytes.extend_from_slice(&world.0);
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&Fingerprint::of(payload).0);
        bytes.extend_from_slice(payload);
        if let Err(e) = write_atomically(&self.dir, &self.layer_path(name), &bytes) {
            self.note(format!(
                "cannot write the cache layer `{name}` in `{}` ({e}); the next run rebuilds it",
                self.dir.display()
            ));
        }
    }

    fn layer_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{LAYER_EXTENSION}"))
    }

    pub(crate) fn ignored(&self, name: &str, why: &str) {
        self.note(format!(
            "ignoring the cache file `{}`: {why}; it will be rebuilt",
            self.layer_path(name).display()
        ));
    }
}

/// Layer names are file names: lowercase ASCII letters, digits and `-`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `Err(None)`: a valid layer of another world (not worth a note); `Err(Some(why))`: damaged
/// or foreign.
fn check_header(bytes: &[u8], name: &str, world: &Fingerprint) -> Result<(), Option<&'static str>> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(Some(if bytes.starts_with(MAGIC) {
            "it is truncated"
        } else {
            "it is not a channelguard cache file"
        }));
    }
    let field = |at: usize, len: usize| &bytes[at..at + len];
    if field(8, 4) != FORMAT_VERSION.to_le_bytes() {
        return Err(Some("it was written by another version of channelguard"));
    }
    if field(12, 16) != Fingerprint::of(name.as_bytes()).0 {
        return Err(Some("it belongs to another layer"));
    }
    if field(28, 16) != world.0 {
        return Err(None);
    }
    let mut len = [0; 8];
    len.copy_from_slice(field(44, 8));
    if u64::from_le_bytes(len) != (bytes.len() - HEADER_LEN) as u64 {
        return Err(Some("it is truncated or has bytes after its content"));
    }
    if field(52, 16) != Fingerprint::of(&bytes[HEADER_LEN..]).0 {
        return Err(Some("its checksum does not match (a damaged file)"));
    }
    Ok(())
}

/// Writes `bytes` to a new temporary file in `dir` and renames it over `path`: readers see the
/// old file or the new one, never a mix. The temporary is created exclusively (never through
/// an existing file or link) and removed when anything fails.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let temporary = dir.join(unique);
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn write_markers(dir: &Path) -> std::io::Result<()> {
    write_atomically(dir, &dir.join(".gitignore"), GITIGNORE_TEXT.as_bytes())?;
    write_atomically(dir, &dir.join(TAG_FILE), TAG_TEXT.as_bytes())
}

/// Whether `dir` holds our marker file (read through the bounded reader: a marker that is a
/// link out of the folder, or anything but a small regular file, does not count).
pub fn is_cache_dir(dir: &Path) -> bool {
    if std::fs::symlink_metadata(dir).map_or(true, |m| !m.is_dir()) {
        return false;
    }
    let scope = ReadScope::new(dir);
    match read_bounded(&dir.join(TAG_FILE), &scope, Origin::Named, 4096) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            text.starts_with(TAG_SIGNATURE) && text.lines().any(|l| l == TAG_OWNER_LINE)
        }
        Err(_) => false,
    }
}

/// What `cache clean` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleaned {
    /// The folder was removed.
    Removed,
    /// There was nothing at that path.
    Absent,
}

/// Removes the cache folder `dir`, only if it carries our marker: the files we write (layers,
/// temporaries, markers) are removed one by one and then the folder, which must then be empty
/// (anything else someone put there stays, and the folder with it).
pub fn clean(dir: &Path) -> Result<Cleaned, String> {
    let shown = dir.display();
    match std::fs::symlink_metadata(dir) {
        Err(_) => return Ok(Cleaned::Absent),
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(format!(
                "`{shown}` is a symbolic link, not a channelguard cache folder; nothing removed"
            ))
        }
        Ok(_) => {}
    }
    if !is_cache_dir(dir) {
        return Err(format!(
            "`{shown}` is not a channelguard cache folder (it has no {TAG_FILE} written by channelguard); nothing removed"
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list `{shown}`: {e}"))?;
    let mut ours = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink());
        let layer = name
            .strip_suffix(&format!(".{LAYER_EXTENSION}"))
            .is_some_and(valid_name);
        if is_file && (layer || name.starts_with(".tmp-") || name == ".gitignore") {
            ours.push(entry.path());
        }
    }
    for path in ours {
        std::fs::remove_file(&path)
            .map_err(|e| format!("cannot remove `{}`: {e}", path.display()))?;
    }
    // The marker goes last: a clean that stops half-way can be run again.
    std::fs::remove_file(dir.join(TAG_FILE))
        .map_err(|e| format!("cannot remove `{}`: {e}", dir.join(TAG_FILE).display()))?;
    std::fs::remove_dir(dir).map_err(|e| {
        format!("removed the cache files, but not the folder `{shown}` (it holds other files): {e}")
    })?;
    Ok(Cleaned::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(n: u8) -> Fingerprint {
        Fingerprint([n; 16])
    }

    #[test]
    fn a_layer_round_trips_for_its_world_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c");
        let store = Store::open(&cache, 1 << 20);
        assert!(store.take_notes().is_empty());
        store.save_layer("evaluations", &world(1), &vec![1u32, 2, 3]);
        assert_eq!(
            store.load_layer::<Vec<u32>>("evaluations", &world(1)),
            Some(vec![1, 2, 3])
        );
        assert_eq!(store.load_layer::<Vec<u32>>("evaluations", &world(2)), None);
        assert_eq!(store.load_layer::<Vec<u32>>("other", &world(1)), None);
        assert!(store.take_notes().is_empty(), "another world is no problem");
        assert!(is_cache_dir(&cache));
        assert_eq!(
            std::fs::read_to_string(cache.join(".gitignore")).unwrap(),
            GITIGNORE_TEXT
        );
    }

    #[test]
    fn every_damaged_byte_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20);
        store.save_layer("x", &world(1), &"some content".to_string());
        let path = dir.path().join("x.bin");
        let good = std::fs::read(&path).unwrap();
        for at in 0..good.len() {
            if (28..44).contains(&at) {
                continue; // the world: another world's layer, silently not used
            }
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(
                store.load_layer::<String>("x", &world(1)),
                None,
                "byte {at}"
            );
            assert_eq!(store.take_notes().len(), 1, "byte {at}");
        }
        for len in 0..good.len() {
            std::fs::write(&path, &good[..len]).unwrap();
            assert_eq!(
                store.load_layer::<String>("x", &world(1)),
                None,
                "length {len}"
            );
            assert_eq!(store.take_notes().len(), 1, "length {len}");
        }
    }

    #[test]
    fn temporaries_of_killed_runs_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), 1 << 20);
        let old = dir.path().join(".tmp-1-0-0");
        let fresh = dir.path().join(".tmp-2-0-0");
        std::fs::write(&old, "half a layer").unwrap();
        std::fs::write(&fresh, "being written").unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        Store::open(dir.path(), 1 << 20);
        assert!(!old.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn a_foreign_non_empty_folder_is_not_used_and_not_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep").unwrap();
        let store = Store::open(dir.path(), 1 << 20);
        store.save_layer("x", &world(1), &1u8);
        assert!(!dir.path().join("x.bin").exists());
        assert_eq!(store.take_notes().len(), 1);
        assert!(clean(dir.path()).is_err());
        assert!(dir.path().join("precious.txt").exists());
    }

    #[test]
    fn clean_removes_our_folder_but_keeps_what_others_put_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("c");
        Store::open(&cache, 1 << 20).save_layer("x", &world(1), &1u8);
        assert_eq!(clean(&cache), Ok(Cleaned::Removed));
        assert!(!cache.exists());
        assert_eq!(clean(&cache), Ok(Cleaned::Absent));
        Store::open(&cache, 1 << 20).save_layer("x", &world(1), &1u8);
        std::fs::write(cache.join("notes.txt"), "mine").unwrap();
        assert!(clean(&cache).is_err());
        assert!(cache.join("notes.txt").exists());
        assert!(!cache.join("x.bin").exists());
    }
}
