//! The sandboxed Rhai engine: built once from `Engine::new_raw()` with only the packages
//! policies need, every limit set, `eval` and `import` disabled, `print`/`debug` captured, and a
//! wall-clock deadline and a breaker read from per-thread state ([`super::thread`]: the closure
//! lives on the shared engine).
//! `Engine::new()` is not a sandbox: it reads modules from disk and prints to stdout.

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine};

use super::thread;
use crate::limits::Limits;

/// Token passed to `ErrorTerminated` when the deadline passes.
pub const DEADLINE_TOKEN: &str = "deadline";

/// Token passed to `ErrorTerminated` when the policy's breaker stops the evaluation.
pub const CANCEL_TOKEN: &str = "cancelled";

/// Builds the immutable engine shared by all workers.
pub fn build(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    // StandardPackage without BasicTimePackage: the crate is built with `no_time`, so policies
    // have no clock and their output depends only on the data and the evaluation date.
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    // Explicit currying: curried values are invisible to the data limits and copied with every
    // copy of the pointer (see guard.rs). Closures capture by sharing and still work.
    engine.disable_symbol("curry");
    engine.set_max_modules(0);
    engine.set_max_operations(limits.policy_operations);
    // Call depth and expression depth stay well inside the 16 MiB worker stack (see check.rs),
    // so runaway recursion is an error, never a stack overflow abort — in debug builds too.
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(1024 * 1024);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(100_000);
    engine.set_max_variables(1_000);
    engine.set_max_functions(256);
    // Misspelt variables and fields are errors, never a silent `()` that lets a policy pass.
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    // The string interner serialises a shared engine across threads (measured): turn it off.
    engine.set_max_strings_interned(0);
    engine.on_progress(|operations| {
        // Reading the clock every operation would cost more than the policies themselves.
        if operations % 512 != 0 {
            return None;
        }
        if thread::deadline_passed() {
            return Some(Dynamic::from(DEADLINE_TOKEN));
        }
        thread::cancelled().then(|| Dynamic::from(CANCEL_TOKEN))
    });
    // Rhai's `exit()` ends a script *successfully* when it is called through `call_fn`, so a
    // policy could pass every document by exiting. Engine functions shadow the package ones.
    engine.register_fn("exit", || -> Result<(), Box<rhai::EvalAltResult>> {
        Err("policy called `exit()`".into())
    });
    engine.register_fn(
        "exit",
        |_: Dynamic| -> Result<(), Box<rhai::EvalAltResult>> {
            Err("policy called `exit()`".into())
        },
    );
    // Natives that could build a result far larger than the limits before Rhai checks it.
    super::guard::register(&mut engine);
    engine.on_print(|text| super::api::capture_output("print", text));
    engine.on_debug(|text, _source, _position| super::api::capture_output("debug", text));
    engine
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::thread::{set_cancel, set_deadline};
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn run(script: &str) -> Result<Dynamic, String> {
        let engine = build(&Limits::default());
        set_deadline(Some(Instant::now() + Duration::from_secs(2)));
        let result = engine.eval::<Dynamic>(script).map_err(|e| e.to_string());
        set_deadline(None);
        result
    }

    #[test]
    fn loops_hit_the_operation_budget() {
        let error = run("loop {}").unwrap_err();
        assert!(error.contains("Too many operations"), "{error}");
    }

    #[test]
    fn eval_import_and_time_are_unavailable() {
        assert!(run("eval(\"1+1\")").is_err());
        assert!(run("import \"x\" as y; 1").is_err());
        assert!(run("timestamp()")
            .unwrap_err()
            .contains("Function not found"));
    }

    #[test]
    fn typos_are_errors() {
        assert!(run("let m = #{a: 1}; m.b").is_err());
        assert!(run("undefined_variable").is_err());
    }

    #[test]
    fn strings_are_capped() {
        let error = run("let s = \"x\"; loop { s += s; }").unwrap_err();
        assert!(
            error.contains("too large") || error.contains("Length of string"),
            "{error}"
        );
    }

    #[test]
    fn exit_is_an_error_not_a_silent_pass() {
        let engine = build(&Limits::default());
        let ast = engine.compile("fn check(doc) { exit(42); }").unwrap();
        let mut scope = rhai::Scope::new();
        let result = engine.call_fn::<Dynamic>(&mut scope, &ast, "check", (1_i64,));
        let error = result.unwrap_err().to_string();
        assert!(error.contains("policy called `exit()`"), "{error}");
        assert!(run("exit()").is_err());
    }

    #[test]
    fn breaker_cancels_an_evaluation() {
        let limits = Limits {
            policy_operations: 0,
            ..Limits::default()
        };
        let engine = build(&limits);
        let tripped = Arc::new(vec![AtomicU32::new(u32::MAX), AtomicU32::new(3)]);
        set_cancel(&tripped, 1, 5);
        let error = engine.eval::<Dynamic>("loop {}").unwrap_err();
        assert!(
            matches!(&*error, rhai::EvalAltResult::ErrorTerminated(token, _)
                if token.clone().into_string().ok().as_deref() == Some(CANCEL_TOKEN)),
            "{error}"
        );
    }

    #[test]
    fn deadline_stops_slow_operations() {
        // Unlimited operations: only the deadline can stop it.
        let limits = Limits {
            policy_operations: 0,
            ..Limits::default()
        };
        let engine = build(&limits);
        set_deadline(Some(Instant::now() + Duration::from_millis(200)));
        let started = Instant::now();
        let error = engine
            .eval::<Dynamic>("let a = []; loop { a.push(1); if a.len() > 50000 { a = []; } }")
            .unwrap_err();
        set_deadline(None);
        assert!(
            matches!(*error, rhai::EvalAltResult::ErrorTerminated(..)),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
