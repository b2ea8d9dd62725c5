//! Size-checked replacements for the Rhai natives that can multiply the size of what they are
//! given: each computes (or streams under a cap) the size of its result *before* allocating it
//! and fails with Rhai's own `ErrorDataTooLarge` (a P003 finding) past the engine's limits.
//!
//! Rhai checks `max_string_size` / `max_array_size` / `max_map_size` only on the value a native
//! *returns*; a native that builds 6.5 GB first aborts the process before that check. Functions
//! registered on the engine shadow package functions of the same name and signature (the
//! engine's own namespace is searched first), so these replace the package versions.
//!
//! # The natives of rhai 1.27 and why each is safe
//!
//! Rhai's sizes count every element of nested arrays and maps and the bytes of every string in
//! them, but *not* map keys and not what a function pointer carries (curried values, a
//! closure's captured variables). Inputs are therefore within the limits by their counted size;
//! what matters is a result far larger than its inputs.
//!
//! Guarded here (the result can be unboundedly larger than the inputs):
//! - `replace` (string/char × string/char): `n` matches × the substitute; counted first.
//! - `to_string`, `to_debug`, `print`, `debug` of arrays and maps, and through them string
//!   `+`/`+=`/`append` with any value, string interpolation, `print`/`debug` statements: they
//!   render map keys and closures' captured values, which the limits do not count. Rendered into
//!   a buffer that stops at `max_string_size + 1` bytes; the over-long result is then refused by
//!   Rhai's own check of the string that is built from it (these functions must not fail: a
//!   failing `to_string` makes Rhai fall back to an unbounded `Display`).
//! - `to_json` of maps: renders curried values in full; streamed under the same cap.
//! - `pad(len, "")` on strings: loops forever in rhai 1.27 (the padding never grows); no-op.
//! - `split`, `split_rev`, `to_chars`: up to one element per byte (a 1 MiB string gives a
//!   million strings before the array limit is checked); the pieces are counted first.
//! - array `map` and `zip`: collect one callback result per element; each result is within the
//!   limits but their sum is not checked until the end, so the running size is checked after
//!   every call.
//! - `curry` (explicit currying) is disabled in `engine.rs`: a curried value is invisible to the
//!   size checks and deep-copied with every copy of the pointer (`[].pad(n, f)` would copy it
//!   `n` times). Closures still capture variables: those are shared, never copied.
//!
//! Safe as they are (their result is within a small constant factor of inputs that are within
//! the limits, and Rhai checks it on return):
//! - built-in operators on strings, characters, arrays and BLOBs (`+`, `+=`): rhai checks the
//!   summed length before allocating strings and BLOBs; array `+`, `+=`, `append`, `concat`,
//!   `insert`, `push`, `splice` add at most the size of one checked operand;
//! - `pad` on strings with a non-empty padding and on arrays and BLOBs, `blob(len, value)`:
//!   rhai checks the final length before allocating (at most 4 bytes per character);
//! - `sub_string`, `crop`, `truncate`, `trim`, `remove`, `pop`, `extract`, `drain`, `retain`,
//!   `filter`, `chop`, `split` of arrays and BLOBs, `keys`, `values`, `get`: parts of the input;
//! - `to_upper`, `to_lower`, `make_upper`, `make_lower`, `to_blob`, `as_string`,
//!   `parse_json`-like conversions, number formatting: at most 3 bytes per input byte;
//! - `mixin`, `merge`, `fill_with`, `+`/`+=` on maps: the sum of two checked maps;
//! - `reduce`, `for_each`, `sort`, `dedup`, `all`, `some`, `find`, `index_of`: every callback
//!   result is checked by Rhai as it returns and nothing is accumulated natively;
//! - `range` and the character iterator: lazy, paid per operation.
//!
//! Not a native, so outside this module: map *keys* made from long strings (`m[s] = v`) are not
//! counted by Rhai's map limit; the operation budget and the deadline bound how many a policy
//! can add (docs/security.md, known gaps).

use std::fmt::{self, Write as _};

use rhai::{
    Array, Blob, Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, ImmutableString, Map,
    NativeCallContext, Position, INT,
};

/// Rhai's own wording, so that every data-limit breach reads the same (see `describe_error`).
const STRING: &str = "Length of string";
const ARRAY: &str = "Size of array/BLOB";

/// Arrays and maps nested deeper than this are not rendered (the render recurses).
const MAX_RENDER_DEPTH: usize = 64;

fn too_large(what: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge(what.to_string(), Position::NONE).into()
}

/// `max_string_size` of the engine, `usize::MAX` when unlimited.
fn string_cap(ctx: &NativeCallContext) -> usize {
    match ctx.engine().max_string_size() {
        0 => usize::MAX,
        n => n,
    }
}

fn array_cap(ctx: &NativeCallContext) -> usize {
    match ctx.engine().max_array_size() {
        0 => usize::MAX,
        n => n,
    }
}

/// A string that refuses to grow past `cap` bytes: a write that would is an `fmt::Error`, so
/// any `Display`/`Debug` implementation writing into it stops early.
pub struct Capped {
    text: String,
    cap: usize,
    over: bool,
}

impl Capped {
    pub fn new(cap: usize) -> Capped {
        Capped {
            text: String::new(),
            cap,
            over: false,
        }
    }

    /// Whether something was refused.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The text so far (never longer than the cap).
    pub fn into_text(self) -> String {
        self.text
    }

    fn stop(&mut self) -> fmt::Result {
        self.over = true;
        Err(fmt::Error)
    }
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.over || s.len() > self.cap - self.text.len() {
            return self.stop();
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// `value`'s `Display` text, cut to at most `cap` bytes (on a character boundary) with `…`.
/// For host code that shows a script value (`q`, related labels, thrown values).
pub fn display_capped(value: &dyn fmt::Display, cap: usize) -> String {
    let mut out = Capped::new(cap);
    let _ = write!(out, "{value}");
    let over = out.is_over();
    let mut text = out.into_text();
    if over {
        text.push('…');
    }
    text
}

/// Renders like rhai's `to_debug` of an element inside an array or map.
fn debug_into(
    ctx: &NativeCallContext,
    value: &mut Dynamic,
    out: &mut Capped,
    depth: usize,
) -> fmt::Result {
    if value.is_array() {
        let mut array = value.as_array_mut().map_err(|_| fmt::Error)?;
        return array_into(ctx, &mut array, out, depth + 1);
    }
    if value.is_map() {
        let mut map = value.as_map_mut().map_err(|_| fmt::Error)?;
        return map_into(ctx, &mut map, out, depth + 1);
    }
    if let Some(text) = value.read_lock::<ImmutableString>() {
        // rhai's `debug_string`.
        return write!(out, "{:?}", text.as_str());
    }
    // Every other type (numbers, characters, function pointers, BLOBs, documents) through its
    // registered `to_debug`, as rhai's `format_array` does; those are small.
    match ctx.call_native_fn_raw("to_debug", true, &mut [value]) {
        Ok(result) if result.is_string() => {
            let text = result.into_immutable_string().map_err(|_| fmt::Error)?;
            out.write_str(&text)
        }
        Ok(result) => out.write_str(ctx.engine().map_type_name(result.type_name())),
        Err(_) => write!(out, "{value:?}"),
    }
}

/// rhai's `format_array`: `[a, b]` with every element in debug form.
fn array_into(
    ctx: &NativeCallContext,
    array: &mut Array,
    out: &mut Capped,
    depth: usize,
) -> fmt::Result {
    if depth > MAX_RENDER_DEPTH {
        return out.stop();
    }
    out.write_str("[")?;
    let len = array.len();
    for (i, item) in array.iter_mut().enumerate() {
        debug_into(ctx, item, out, depth)?;
        if i + 1 < len {
            out.write_str(", ")?;
        }
    }
    out.write_str("]")
}

/// rhai's `format_map`: `#{"k": v}` with keys quoted and values in debug form.
fn map_into(ctx: &NativeCallContext, map: &mut Map, out: &mut Capped, depth: usize) -> fmt::Result {
    if depth > MAX_RENDER_DEPTH {
        return out.stop();
    }
    out.write_str("#{")?;
    let len = map.len();
    for (i, (key, value)) in map.iter_mut().enumerate() {
        write!(out, "{key:?}: ")?;
        debug_into(ctx, value, out, depth)?;
        if i + 1 < len {
            out.write_str(", ")?;
        }
    }
    out.write_str("}")
}

/// Finishes a rendering: the text, or (past the cap) a string one byte over the limit.
fn finish(out: Capped, cap: usize) -> ImmutableString {
    if !out.is_over() {
        return out.into_text().into();
    }
    let mut text = out.into_text();
    if cap != usize::MAX {
        text.push_str(&" ".repeat(cap + 1 - text.len()));
    }
    text.into()
}

fn format_array(ctx: NativeCallContext, array: &mut Array) -> ImmutableString {
    let cap = string_cap(&ctx);
    let mut out = Capped::new(cap);
    let _ = array_into(&ctx, array, &mut out, 0);
    finish(out, cap)
}

fn format_map(ctx: NativeCallContext, map: &mut Map) -> ImmutableString {
    let cap = string_cap(&ctx);
    let mut out = Capped::new(cap);
    let _ = map_into(&ctx, map, &mut out, 0);
    finish(out, cap)
}

/// rhai's `format_dynamic_as_json`, streamed under the cap.
fn json_into(value: &Dynamic, out: &mut Capped, depth: usize) -> fmt::Result {
    if depth > MAX_RENDER_DEPTH {
        return out.stop();
    }
    if value.is_shared() {
        let inner = value.read_lock::<Dynamic>().ok_or(fmt::Error)?;
        return json_into(&inner, out, depth + 1);
    }
    if value.is_unit() {
        return out.write_str("null");
    }
    if let Some(f) = value.read_lock::<FnPtr>() {
        if !f.is_curried() {
            return write!(out, "{:?}", f.fn_name());
        }
        write!(out, "[{:?}", f.fn_name())?;
        for curried in f.iter_curry() {
            out.write_str(",")?;
            json_into(curried, out, depth + 1)?;
        }
        return out.write_str("]");
    }
    if let Ok(map) = value.as_map_ref() {
        return json_map_into(&map, out, depth + 1);
    }
    if let Ok(array) = value.as_array_ref() {
        out.write_str("[")?;
        for (i, item) in array.iter().enumerate() {
            if i > 0 {
                out.write_str(",")?;
            }
            json_into(item, out, depth + 1)?;
        }
        return out.write_str("]");
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        out.write_str("[")?;
        for (i, byte) in blob.iter().enumerate() {
            if i > 0 {
                out.write_str(",")?;
            }
            write!(out, "{byte}")?;
        }
        return out.write_str("]");
    }
    write!(out, "{value:?}")
}

/// rhai's `format_map_as_json`.
fn json_map_into(map: &Map, out: &mut Capped, depth: usize) -> fmt::Result {
    out.write_str("{")?;
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.write_str(",")?;
        }
        write!(out, "{key:?}:")?;
        json_into(value, out, depth)?;
    }
    out.write_str("}")
}

fn to_json(ctx: NativeCallContext, map: &mut Map) -> Result<String, Box<EvalAltResult>> {
    let mut out = Capped::new(string_cap(&ctx));
    match json_map_into(map, &mut out, 0) {
        Ok(()) if !out.is_over() => Ok(out.into_text()),
        _ => Err(too_large(STRING)),
    }
}

/// Length of `text` with every (non-overlapping, left to right) `find` replaced by `with`, as
/// `str::replace` computes it; an empty `find` matches before every character and at the end.
fn replaced_len(text: &str, find: &str, with: usize) -> Option<usize> {
    let matches = text.matches(find).count();
    matches
        .checked_mul(with)?
        .checked_add(text.len() - matches * find.len())
}

fn replace(
    ctx: &NativeCallContext,
    string: &mut ImmutableString,
    find: &str,
    with: &str,
) -> Result<(), Box<EvalAltResult>> {
    // rhai's `replace`: an empty string stays empty (even for an empty `find`).
    if string.is_empty() {
        return Ok(());
    }
    match replaced_len(string, find, with.len()) {
        Some(len) if len <= string_cap(ctx) => {
            *string = string.replace(find, with).into();
            Ok(())
        }
        _ => Err(too_large(STRING)),
    }
}

/// Fails when splitting would make more than `max_array_size` pieces.
fn check_pieces(ctx: &NativeCallContext, pieces: usize) -> Result<(), Box<EvalAltResult>> {
    if pieces > array_cap(ctx) {
        Err(too_large(ARRAY))
    } else {
        Ok(())
    }
}

fn segments(n: INT) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn pieces<'a>(items: impl Iterator<Item = &'a str>) -> Array {
    items
        .map(|s| Dynamic::from(ImmutableString::from(s)))
        .collect()
}

/// Calls `f` on one element as rhai's `map` does (`this` bound to the element, or the element
/// and its index as arguments), through the public `FnPtr::call_raw`.
fn call_with_index(
    ctx: &NativeCallContext,
    f: &FnPtr,
    caller: &str,
    this: Option<&mut Dynamic>,
    args: Vec<Dynamic>,
    index: usize,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let not_found = |err: &EvalAltResult| matches!(err, EvalAltResult::ErrorFunctionNotFound(sig, ..) if sig.starts_with(f.fn_name()));
    let index = Dynamic::from_int(INT::try_from(index).unwrap_or(INT::MAX));
    let mut this = this;
    let result = f
        .call_raw(ctx, this.as_deref_mut(), args.clone())
        .or_else(|err| match &*err {
            e if not_found(e) && this.is_some() => {
                let mut with_this = vec![this.as_deref().cloned().unwrap_or_default()];
                with_this.extend(args.iter().cloned());
                f.call_raw(ctx, None, with_this)
            }
            _ => Err(err),
        })
        .or_else(|err| match &*err {
            e if not_found(e) => {
                let mut all = Vec::with_capacity(args.len() + 2);
                if let Some(this) = this.as_deref() {
                    all.push(this.clone());
                    all.extend(args.iter().cloned());
                    all.push(index.clone());
                    return f.call_raw(ctx, None, all);
                }
                all.extend(args.iter().cloned());
                all.push(index.clone());
                f.call_raw(ctx, None, all)
            }
            _ => Err(err),
        });
    result.map_err(|err| {
        EvalAltResult::ErrorInFunctionCall(
            caller.to_string(),
            ctx.call_source().unwrap_or("").to_string(),
            err,
            Position::NONE,
        )
        .into()
    })
}

/// Collects callback results, checking the running size after each one.
struct Collect {
    items: Array,
    arrays: usize,
    maps: usize,
    strings: usize,
}

impl Collect {
    fn new(capacity: usize) -> Collect {
        Collect {
            items: Array::with_capacity(capacity),
            arrays: 0,
            maps: 0,
            strings: 0,
        }
    }

    fn push(&mut self, ctx: &NativeCallContext, item: Dynamic) -> Result<(), Box<EvalAltResult>> {
        let (a, m, s) = sizes(&item);
        self.arrays += a + 1;
        self.maps += m;
        self.strings += s;
        let engine = ctx.engine();
        let over = |size: usize, max: usize| max > 0 && size > max;
        if over(self.strings, engine.max_string_size()) {
            return Err(too_large(STRING));
        }
        if over(self.arrays, engine.max_array_size()) {
            return Err(too_large(ARRAY));
        }
        if over(self.maps, engine.max_map_size()) {
            return Err(too_large("Size of object map"));
        }
        self.items.push(item);
        Ok(())
    }
}

/// Rhai's counted sizes (arrays, maps, strings) of a value.
fn sizes(value: &Dynamic) -> (usize, usize, usize) {
    if let Ok(array) = value.as_array_ref() {
        return array.iter().fold((0, 0, 0), |(a, m, s), item| {
            let (ia, im, is) = sizes(item);
            (a + 1 + ia, m + im, s + is)
        });
    }
    if let Ok(map) = value.as_map_ref() {
        return map.values().fold((0, 0, 0), |(a, m, s), item| {
            let (ia, im, is) = sizes(item);
            (a + ia, m + 1 + im, s + is)
        });
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        return (blob.len(), 0, 0);
    }
    if let Some(text) = value.read_lock::<ImmutableString>() {
        return (0, 0, text.len());
    }
    (0, 0, 0)
}

fn map_array(
    ctx: NativeCallContext,
    array: &mut Array,
    f: FnPtr,
) -> Result<Array, Box<EvalAltResult>> {
    let mut out = Collect::new(array.len());
    for (i, item) in array.iter_mut().enumerate() {
        let result = call_with_index(&ctx, &f, "map", Some(item), Vec::new(), i)?;
        out.push(&ctx, result)?;
    }
    Ok(out.items)
}

fn zip_arrays(
    ctx: NativeCallContext,
    array: &mut Array,
    other: Array,
    f: FnPtr,
) -> Result<Array, Box<EvalAltResult>> {
    let mut out = Collect::new(array.len().min(other.len()));
    for (i, (x, y)) in array.iter_mut().zip(other).enumerate() {
        let result = call_with_index(&ctx, &f, "zip", None, vec![x.clone(), y], i)?;
        out.push(&ctx, result)?;
    }
    Ok(out.items)
}

/// Registers the checked natives on `engine`, shadowing the package versions.
pub fn register(engine: &mut Engine) {
    for name in ["to_string", "to_debug", "print", "debug"] {
        engine.register_fn(name, format_array);
        engine.register_fn(name, format_map);
    }
    engine.register_fn("to_json", to_json);

    // `replace` changes its receiver: not pure, like rhai's (refused on a constant).
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString, find: &str, with: &str| {
                replace(&ctx, s, find, with)
            },
        );
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString, find: &str, with: char| {
                replace(&ctx, s, find, with.encode_utf8(&mut [0; 4]))
            },
        );
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString, find: char, with: &str| {
                replace(&ctx, s, find.encode_utf8(&mut [0; 4]), with)
            },
        );
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString, find: char, with: char| {
                replace(
                    &ctx,
                    s,
                    find.encode_utf8(&mut [0; 4]),
                    with.encode_utf8(&mut [0; 4]),
                )
            },
        );
    // rhai 1.27 loops forever on an empty padding; anything else is checked by rhai.
    FuncRegistration::new("pad")
        .with_purity(false)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             len: INT,
             padding: &str|
             -> Result<(), Box<EvalAltResult>> {
                if padding.is_empty() || len <= 0 {
                    return Ok(());
                }
                let len = usize::try_from(len).map_err(|_| too_large(STRING))?;
                if len > string_cap(&ctx) {
                    return Err(too_large(STRING));
                }
                let mut have = s.chars().count();
                if len <= have {
                    return Ok(());
                }
                let width = padding.chars().count();
                let mut text = s.to_string();
                while have < len {
                    if have + width <= len {
                        text.push_str(padding);
                        have += width;
                    } else {
                        text.extend(padding.chars().take(len - have));
                        have = len;
                    }
                }
                if text.len() > string_cap(&ctx) {
                    return Err(too_large(STRING));
                }
                *s = text.into();
                Ok(())
            },
        );

    // Splitting: count the pieces, then split exactly as rhai does.
    engine.register_fn(
        "to_chars",
        |ctx: NativeCallContext, s: &str| -> Result<Array, Box<EvalAltResult>> {
            check_pieces(&ctx, s.chars().count())?;
            Ok(s.chars().map(Dynamic::from_char).collect())
        },
    );
    engine.register_fn(
        "split",
        |ctx: NativeCallContext, s: &mut ImmutableString| -> Result<Array, Box<EvalAltResult>> {
            if s.is_empty() {
                return Ok(vec![s.clone().into()]);
            }
            check_pieces(&ctx, s.split_whitespace().count())?;
            Ok(pieces(s.split_whitespace()))
        },
    );
    for (name, reverse) in [("split", false), ("split_rev", true)] {
        engine.register_fn(
            name,
            move |ctx: NativeCallContext,
                  s: &mut ImmutableString,
                  delimiter: &str|
                  -> Result<Array, Box<EvalAltResult>> {
                if s.is_empty() || (!delimiter.is_empty() && !s.contains(delimiter)) {
                    return Ok(vec![s.clone().into()]);
                }
                check_pieces(&ctx, s.split(delimiter).count())?;
                Ok(if reverse {
                    pieces(s.rsplit(delimiter))
                } else {
                    pieces(s.split(delimiter))
                })
            },
        );
        engine.register_fn(
            name,
            move |ctx: NativeCallContext,
                  s: &mut ImmutableString,
                  delimiter: &str,
                  n: INT|
                  -> Result<Array, Box<EvalAltResult>> {
                if n <= 1 || s.is_empty() || (!delimiter.is_empty() && !s.contains(delimiter)) {
                    return Ok(vec![s.clone().into()]);
                }
                check_pieces(&ctx, s.splitn(segments(n), delimiter).count())?;
                Ok(if reverse {
                    pieces(s.rsplitn(segments(n), delimiter))
                } else {
                    pieces(s.splitn(segments(n), delimiter))
                })
            },
        );
        engine.register_fn(
            name,
            move |ctx: NativeCallContext,
                  s: &mut ImmutableString,
                  delimiter: char|
                  -> Result<Array, Box<EvalAltResult>> {
                if s.is_empty() || !s.contains(delimiter) {
                    return Ok(vec![s.clone().into()]);
                }
                check_pieces(&ctx, s.split(delimiter).count())?;
                Ok(if reverse {
                    pieces(s.rsplit(delimiter))
                } else {
                    pieces(s.split(delimiter))
                })
            },
        );
        engine.register_fn(
            name,
            move |ctx: NativeCallContext,
                  s: &mut ImmutableString,
                  delimiter: char,
                  n: INT|
                  -> Result<Array, Box<EvalAltResult>> {
                if n <= 1 || s.is_empty() || !s.contains(delimiter) {
                    return Ok(vec![s.clone().into()]);
                }
                check_pieces(&ctx, s.splitn(segments(n), delimiter).count())?;
                Ok(if reverse {
                    pieces(s.rsplitn(segments(n), delimiter))
                } else {
                    pieces(s.splitn(segments(n), delimiter))
                })
            },
        );
    }

    engine.register_fn("map", map_array);
    engine.register_fn("zip", zip_arrays);
}
