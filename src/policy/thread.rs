//! All per-thread state of policy evaluation, in one place. The engine and its native functions
//! are shared by every worker, so what belongs to one evaluation reaches them through these
//! thread-locals: the deadline and breaker read by the engine's progress callback, the frame
//! the policy API reports into, and the worker's own copies of the compiled scripts.
//!
//! Invariants:
//! - An evaluation runs on one thread from start to end (rayon never moves a running closure),
//!   so whatever [`set_deadline`], [`set_cancel`] and [`with_frame`] install is seen by every
//!   callback of that evaluation and by no other.
//! - State stays installed between evaluations on the same worker and is replaced only when a
//!   different run comes along: one `Arc` clone per worker and run instead of one per document
//!   (a million clones made the two workers contend for one reference count).
//! - A run is recognised by pointer identity of an `Arc` the slot itself holds (`Arc::ptr_eq`).
//!   That is sound because the slot keeps its `Arc` alive: while the old run's allocation is
//!   held here, no new run's `Arc` can be allocated at the same address, so equal pointers mean
//!   the same run. (A bare address kept as a `usize` would not be: once freed, it can be reused
//!   by the next run and stale state would be taken for the new run's.) The price is that a
//!   finished run's shared data lives until the worker sees another run or exits; the pool is
//!   built per check, so its workers exit with it.
//! - Nothing here outlives a panic in a harmful way: after a caught panic the evaluator clears
//!   the deadline; the frame's collections are taken (emptied) at the end of every evaluation.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rhai::{EvalAltResult, AST};

use super::api::{Collected, Frame, Shared};
use super::PolicySet;
use crate::source::SourceMap;

thread_local! {
    /// When the evaluation running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };

    /// The policy's circuit breaker and the document being evaluated on this thread: once a
    /// document earlier in repository order has hit a limit, this evaluation is pointless.
    static CANCEL: RefCell<Option<Breaker>> = const { RefCell::new(None) };

    /// The policy API's view of the evaluation running on this thread (see [`with_frame`]).
    static FRAME: RefCell<Option<Frame>> = const { RefCell::new(None) };

    /// This worker's own compiled copies of the policies, for the run whose `Shared` it holds.
    static THREAD_ASTS: RefCell<Option<ThreadAsts>> = const { RefCell::new(None) };
}

/// A worker's compiled copies of the policies (by policy index), for the run it holds.
type ThreadAsts = (Arc<Shared>, Vec<Option<AST>>);

/// Sets (or clears) the deadline of the evaluations on this thread.
pub(super) fn set_deadline(deadline: Option<Instant>) {
    DEADLINE.with(|d| d.set(deadline));
}

/// Whether the deadline of the evaluation on this thread has passed.
pub(super) fn deadline_passed() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline))
}

/// The breakers of one run (one per policy) and the evaluation running on this thread.
struct Breaker {
    tripped: Arc<Vec<AtomicU32>>,
    policy: usize,
    document: u32,
}

/// Sets the breaker of the evaluation on this thread: it is cancelled as soon as
/// `tripped[policy]` holds a document index below `document`. The breakers stay installed
/// between calls (replaced only for another run), so no reference count is touched per call.
pub(super) fn set_cancel(tripped: &Arc<Vec<AtomicU32>>, policy: usize, document: u32) {
    CANCEL.with(|c| {
        let mut slot = c.borrow_mut();
        match slot.as_mut() {
            Some(breaker) if Arc::ptr_eq(&breaker.tripped, tripped) => {
                breaker.policy = policy;
                breaker.document = document;
            }
            _ => {
                *slot = Some(Breaker {
                    tripped: Arc::clone(tripped),
                    policy,
                    document,
                })
            }
        }
    });
}

/// The index of the policy whose evaluation runs on this thread (the one its breaker names),
/// for natives that check what the policy declares (`report(#{rule})`).
pub(super) fn current_policy() -> Option<usize> {
    CANCEL.with(|c| c.borrow().as_ref().map(|b| b.policy))
}

/// Whether the evaluation on this thread was cancelled by its policy's breaker.
pub(super) fn cancelled() -> bool {
    CANCEL.with(|c| {
        c.borrow().as_ref().is_some_and(|b| {
            b.tripped
                .get(b.policy)
                .is_some_and(|t| t.load(Ordering::Relaxed) < b.document)
        })
    })
}

/// Runs `body` in this thread's frame for `shared` and returns what it collected. The frame
/// stays installed between calls on the same worker thread (it is replaced when another run's
/// `shared` comes along).
#[cfg(test)]
pub(super) fn with_frame<T>(
    shared: &Arc<Shared>,
    report_cap: usize,
    body: impl FnOnce() -> T,
) -> (T, Collected) {
    with_recording_frame(shared, report_cap, false, body)
}

/// [`with_frame`], recording the queries the evaluation asks (its read set, in
/// [`Collected::reads`]) when `record` is set.
pub(super) fn with_recording_frame<T>(
    shared: &Arc<Shared>,
    report_cap: usize,
    record: bool,
    body: impl FnOnce() -> T,
) -> (T, Collected) {
    FRAME.with(|f| {
        let mut slot = f.borrow_mut();
        let reuse = slot
            .as_ref()
            .is_some_and(|frame| Arc::ptr_eq(&frame.shared, shared));
        if reuse {
            if let Some(frame) = slot.as_mut() {
                frame.report_cap = report_cap;
                frame.reads = record.then(Vec::new);
            }
        } else {
            *slot = Some(Frame {
                shared: Arc::clone(shared),
                reported: Vec::new(),
                output: Vec::new(),
                reached: Vec::new(),
                report_cap,
                dropped: 0,
                skipped: None,
                reads: record.then(Vec::new),
            });
        }
    });
    let result = body();
    let collected = FRAME.with(|f| match f.borrow_mut().as_mut() {
        Some(frame) => Collected {
            reported: std::mem::take(&mut frame.reported),
            output: std::mem::take(&mut frame.output),
            reached: std::mem::take(&mut frame.reached),
            dropped: std::mem::take(&mut frame.dropped),
            skipped: frame.skipped.take(),
            reads: frame.reads.take(),
        },
        None => Collected::default(),
    });
    (result, collected)
}

/// Runs `body` on the frame of the evaluation on this thread; an error outside one.
pub(super) fn frame<T>(body: impl FnOnce(&mut Frame) -> T) -> Result<T, Box<EvalAltResult>> {
    FRAME.with(|f| match f.borrow_mut().as_mut() {
        Some(frame) => Ok(body(frame)),
        None => Err("policy API called outside an evaluation".into()),
    })
}

/// Runs `body` with this worker thread's own AST of a policy. The string constants of an AST
/// are reference-counted: with one AST shared by both workers, every use of a literal such as
/// `"csp"` bumped a count on a cache line the other core was bumping too. Compiling the pack
/// again per worker costs a few milliseconds per run. `AST::clone` is no way out: it shares the
/// string constants (`ImmutableString` is an `Arc`) and the script's functions (`Arc<Module>`),
/// and rhai has no deep clone. Counted by [`super::worker_copies_compiled`].
pub(super) fn with_thread_ast<T>(
    set: &PolicySet,
    shared: &Arc<Shared>,
    policy: usize,
    sources: &SourceMap,
    body: impl FnOnce(&AST) -> T,
) -> T {
    THREAD_ASTS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|(owner, _)| !Arc::ptr_eq(owner, shared))
        {
            *slot = Some((Arc::clone(shared), vec![None; set.policies.len()]));
        }
        let asts = &mut slot.as_mut().expect("installed above").1;
        if asts[policy].is_none() {
            let text = &sources.get(set.policies[policy].file).text;
            super::WORKER_COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // It compiled once already; should it not now, the shared AST is the fallback.
            asts[policy] = Some(
                set.engine
                    .compile(&**text)
                    .unwrap_or_else(|_| set.policies[policy].ast.clone()),
            );
        }
        let ast = asts[policy].as_ref().expect("compiled above");
        body(ast)
    })
}
