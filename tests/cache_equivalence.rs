//! Issue 16, item 3: a run that reuses the previous run's policy evaluations (its memo) gives
//! byte-identical reports to a cold run on the same tree, after any sequence of edits.
//!
//! The repository is the example repository (copied to a temporary directory, every document in
//! a file of its own half of the time) plus a policy of the test's own that uses `find`, list
//! lookups, related locations written by hand, a setting and `print` (in one case in three). Each case is a seeded
//! random sequence of edits: change a field that rules read (status, billing_model,
//! partner_of_record, customer, with values that break references and fix them again), add a
//! comment line above a document (its spans move), add a document, move one to a file of its own, rename a file, delete a document, edit the policy,
//! change a setting or `as_of`. After each step the JSON and human reports of the memo run, of
//! two runs through a cache folder (the first patches the last recorded result when the edits
//! since are field edits, [`channelguard::patch`]; else it is a full run) and of a cold run are
//! compared.
//!
//! `CHANNELGUARD_EQUIVALENCE_CASES` sets the number of cases (default 6; `.ci/run` runs more),
//! `CHANNELGUARD_EQUIVALENCE_SEED` the first seed.

use std::collections::BTreeMap;
use std::path::Path;

use channelguard::check::{self, CommandLine, Outcome};
use channelguard::memo::Memo;
use channelguard::report::human::HumanReporter;
use channelguard::report::json::JsonReporter;
use channelguard::report::{Report, Reporter};

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const POLICY: &str = r#"//! id: X900
//! title: lookups of the equivalence test
//! severity: warning
//! kinds: Subscription, Customer
//! rationale: Exercises find, list lookups, related locations, settings and print.
//! remediation: Nothing to do.
//! setting: x900_status = "active" — the status that is reported

fn check(doc) {
    if doc.kind == "Subscription" {
        let c = find("Customer", doc.customer);
        if c == () { return; }
        let others = subscriptions_of(doc.customer);
        let seller = doc.partner_of_record;
        if seller == () { seller = "none"; }
        if doc.status == setting("x900_status") && others.len() > 1 {
            report("/status", "" + others.len() + " subscriptions of " + c.id, "",
                [at(c, "/name", "its customer"),
                 #{kind: "Partner", id: seller, pointer: "/id", message: "seller"}]);
        }
    } else {
        if doc.id == "fabrikam" { print("seen " + doc.id); }
        for s in subscriptions_of(doc.id) {
            if s.billing_model == "usage" { report("", "usage " + s.id); }
        }
    }
}
"#;

/// The repository: file name → its documents (texts without `---`).
type Tree = BTreeMap<String, Vec<String>>;

fn read_example(split: bool) -> Tree {
    let mut tree = Tree::new();
    let root = Path::new("examples/northwind-csp");
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "channelguard.yaml")
            {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).unwrap();
                let docs: Vec<String> = text
                    .split("\n---\n")
                    .map(|d| format!("{}\n", d.trim_end()))
                    .collect();
                if split {
                    for (i, doc) in docs.into_iter().enumerate() {
                        tree.insert(name.replace(".yaml", &format!("-{i}.yaml")), vec![doc]);
                    }
                } else {
                    tree.insert(name, docs);
                }
            }
        }
    }
    tree
}

/// Writes `tree` (and the policy) under `dir`, replacing what was there.
fn write_tree(dir: &Path, tree: &Tree, policy: &str) {
    // Only what changed is written (and what is gone removed), as an editor would: the
    // unchanged files keep their stamps, so the cache's replay layer is tested against edits
    // of single files.
    let data = dir.join("data");
    for entry in walk_files(&data) {
        let name = entry
            .strip_prefix(&data)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if !tree.contains_key(&name) {
            std::fs::remove_file(&entry).unwrap();
        }
    }
    let mut files: Vec<(std::path::PathBuf, String)> = tree
        .iter()
        .map(|(name, docs)| (data.join(name), docs.join("---\n")))
        .collect();
    files.push((dir.join("policies/X900-lookups.rhai"), policy.to_string()));
    for (path, text) in files {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The world of a step besides the data.
#[derive(Clone)]
struct World {
    as_of: &'static str,
    status: &'static str,
    policy: String,
    /// `--schemas` (the bundled schemas when `None`).
    schemas: Option<std::path::PathBuf>,
    /// Native `applies` pre-conditions (on by default); the counting tests turn them off so
    /// that every (policy, document) pair of a kind is an evaluation, run or reused.
    preconditions: bool,
}

impl World {
    /// The example's world: the as-of date of the fixtures, the test policy, built-in schemas,
    /// pre-conditions on.
    fn example() -> World {
        World {
            as_of: "2024-06-30",
            status: "active",
            policy: POLICY.to_string(),
            schemas: None,
            preconditions: true,
        }
    }
}

fn options(dir: &Path, world: &World) -> check::Prepared {
    std::fs::write(
        dir.join("channelguard.yaml"),
        format!(
            "policies: [policies]\nsettings:\n  x900_status: {}\n",
            world.status
        ),
    )
    .unwrap();
    let command_line = CommandLine {
        paths: vec![dir.to_path_buf()],
        as_of: Some(world.as_of.to_string()),
        root: Some(dir.to_path_buf()),
        threads: Some(2),
        schemas: world.schemas.clone(),
        ..CommandLine::default()
    };
    let mut prepared = check::prepare(&command_line).expect("the configuration is read");
    prepared.options.policy_preconditions = world.preconditions;
    prepared
}

/// The JSON and human reports of `outcome`.
fn reports(outcome: &Outcome, as_of: jiff::civil::Date) -> (String, String) {
    let report = Report {
        outcome,
        as_of,
        show_waived: false,
        fail_on: channelguard::finding::Severity::Error,
    };
    let mut json = Vec::new();
    JsonReporter.write(&report, &mut json).unwrap();
    let mut human = Vec::new();
    HumanReporter {
        color: false,
        width: 100,
        quiet: false,
        timing: false,
    }
    .write(&report, &mut human)
    .unwrap();
    (
        String::from_utf8(json).unwrap(),
        String::from_utf8(human).unwrap(),
    )
}

/// Steps whose first cached run was a patched replay ([`channelguard::patch`]).
static PATCHED_STEPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Why the other steps' first cached runs were full runs.
static NOT_PATCHED: std::sync::Mutex<std::collections::BTreeMap<&str, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Runs cold and with `memo`; asserts identical reports; returns the new memo and the counts.
/// With `cache`, also runs twice through that cache folder (as `check` does): the first run
/// loads what the last step's runs left (and must not replay their result when a file
/// changed), the second replays the first's result; both must report what the cold run did.
fn compare(
    dir: &Path,
    world: &World,
    memo: Option<Memo>,
    cache: Option<&Path>,
    step: &str,
) -> (Memo, usize, usize) {
    let prepared = options(dir, world);
    let cold = check::run_with_config(&prepared.options, prepared.config.as_ref()).unwrap();
    let (warm, memo) =
        check::run_with_memo(&prepared.options, prepared.config.as_ref(), memo).unwrap();
    let as_of = prepared.options.as_of;
    let (cold_json, cold_human) = reports(&cold, as_of);
    let (warm_json, warm_human) = reports(&warm, as_of);
    assert_eq!(cold_json, warm_json, "JSON report differs after {step}");
    assert_eq!(cold_human, warm_human, "human report differs after {step}");
    if let Some(cache) = cache {
        let mut cached_options = prepared.options.clone();
        cached_options.cache_dir = Some(cache.to_path_buf());
        // Longer than the settle window the test sets: the files' stamps are trusted.
        std::thread::sleep(std::time::Duration::from_millis(60));
        let mut first_patched = false;
        for attempt in ["first", "second"] {
            let cached = check::run_with_config(&cached_options, prepared.config.as_ref()).unwrap();
            let (json, human) = reports(&cached, as_of);
            assert_eq!(
                cold_json, json,
                "{attempt} cached run: JSON differs after {step}"
            );
            assert_eq!(
                cold_human, human,
                "{attempt} cached run: human differs after {step}"
            );
            assert!(
                cached.stats.cache_notes.is_empty(),
                "{:?}",
                cached.stats.cache_notes
            );
            // A full run records its result: the next run replays it. A patched run
            // records nothing: the next run patches the same change again.
            match attempt {
                "first" => {
                    first_patched = cached.stats.patched.is_some();
                    if first_patched {
                        PATCHED_STEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    } else if let Some(reason) = cached.stats.not_patched {
                        *NOT_PATCHED.lock().unwrap().entry(reason).or_default() += 1;
                    }
                }
                _ if first_patched => assert!(
                    cached.stats.patched.is_some(),
                    "the second cached run patches again ({step})"
                ),
                _ => assert!(
                    cached.stats.replayed,
                    "the second cached run replays ({step})"
                ),
            }
        }
    }
    assert_eq!(
        cold.stats.evaluations.run,
        warm.stats.evaluations.run + warm.stats.evaluations.reused,
        "every evaluation is run or reused ({step})"
    );
    let e = warm.stats.evaluations;
    (memo, e.run, e.reused)
}

/// Replaces the value of the top-level `field` of `doc` (adds the field when absent).
fn set_field(doc: &str, field: &str, value: &str) -> String {
    let prefix = format!("{field}:");
    let mut found = false;
    let mut lines: Vec<String> = doc
        .lines()
        .map(|line| {
            if line.starts_with(&prefix) {
                found = true;
                format!("{field}: {value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        lines.push(format!("{field}: {value}"));
    }
    lines.join("\n") + "\n"
}

/// One random edit of `tree` or `world`; returns its description.
fn edit(rng: &mut Rng, tree: &mut Tree, world: &mut World, step: usize) -> String {
    let names: Vec<String> = tree.keys().cloned().collect();
    let name = rng.pick(&names).clone();
    let files = tree.len();
    let docs = tree.get_mut(&name).unwrap();
    let at = rng.below(docs.len());
    match rng.below(11) {
        0..=3 => {
            let (field, values): (&str, &[&str]) = *rng.pick(&[
                (
                    "status",
                    &["active", "accepted", "suspended", "expired", "terminated"][..],
                ),
                ("billing_model", &["license", "usage", "seat"][..]),
                (
                    "partner_of_record",
                    &["northwind", "litware", "adatum-distribution", "nobody"][..],
                ),
                (
                    "customer",
                    &["contoso", "fabrikam", "woodgrove", "missing-customer"][..],
                ),
            ]);
            let value = *rng.pick(values);
            docs[at] = set_field(&docs[at], field, value);
            format!("set {field} = {value} in {name}#{at}")
        }
        4 => {
            let copy = set_field(&docs[at], "id", &format!("copy-{step}"));
            tree.insert(format!("added/doc-{step}.yaml"), vec![copy]);
            format!("add a copy of {name}#{at}")
        }
        5 if docs.len() > 1 => {
            let doc = docs.remove(at);
            tree.insert(format!("moved/doc-{step}.yaml"), vec![doc]);
            format!("move {name}#{at} to a file of its own")
        }
        6 => {
            let docs = tree.remove(&name).unwrap();
            let renamed = format!("renamed/{step}-{}", name.replace('/', "-"));
            tree.insert(renamed.clone(), docs);
            format!("rename {name} to {renamed}")
        }
        7 if docs.len() > 1 || files > 10 => {
            docs.remove(at);
            if docs.is_empty() {
                tree.remove(&name);
            }
            format!("delete {name}#{at}")
        }
        10 => {
            // Moves every span below it: what points into the file must follow.
            docs[at] = format!("# edited at step {step}\n{}", docs[at]);
            format!("comment above {name}#{at}")
        }
        8 => {
            world.policy = if world.policy.contains(" subscriptions of ") {
                world
                    .policy
                    .replace(" subscriptions of ", " subscriptions for ")
            } else {
                world
                    .policy
                    .replace(" subscriptions for ", " subscriptions of ")
            };
            "edit the policy".to_string()
        }
        _ => {
            if rng.below(2) == 0 {
                world.as_of = if world.as_of == "2024-06-30" {
                    "2025-02-01"
                } else {
                    "2024-06-30"
                };
                format!("as_of = {}", world.as_of)
            } else {
                world.status = if world.status == "active" {
                    "suspended"
                } else {
                    "active"
                };
                format!("x900_status = {}", world.status)
            }
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn memo_runs_report_exactly_what_cold_runs_report_after_random_edits() {
    // Stamps are trusted 50 ms after a file changes instead of 2 s (debug builds only), so
    // that the replay is tested at every step without waiting.
    std::env::set_var("CHANNELGUARD_TEST_SETTLE_MS", "50");
    let started = std::time::Instant::now();
    let cases = env_number("CHANNELGUARD_EQUIVALENCE_CASES", 6);
    let first_seed = env_number("CHANNELGUARD_EQUIVALENCE_SEED", 16);
    let (mut reused_total, mut run_total) = (0, 0);
    for seed in first_seed..first_seed + cases {
        let mut rng = Rng(seed);
        let dir = tempfile::tempdir().unwrap();
        let mut tree = read_example(seed % 2 == 0);
        let mut world = World::example();
        if seed % 3 != 0 {
            // A policy's output is about the whole run, so no change is patched after it:
            // two cases in three print nothing, and their field edits are patched.
            world.policy = world.policy.replace("print(", "debug_off(");
            world.policy.push_str("\nfn debug_off(text) {}\n");
        }
        write_tree(dir.path(), &tree, &world.policy);
        let cache = tempfile::tempdir().unwrap();
        let (mut memo, _, _) = compare(
            dir.path(),
            &world,
            None,
            Some(cache.path()),
            "the first run",
        );
        let mut history = Vec::new();
        for step in 0..8 {
            let change = edit(&mut rng, &mut tree, &mut world, step);
            history.push(change);
            write_tree(dir.path(), &tree, &world.policy);
            let what = format!("seed {seed}: {}", history.join("; "));
            let (next, run, reused) =
                compare(dir.path(), &world, Some(memo), Some(cache.path()), &what);
            memo = next;
            run_total += run;
            reused_total += reused;
        }
    }
    // The memo was used at all (most edits touch one file).
    assert!(
        reused_total > run_total,
        "{reused_total} reused, {run_total} run"
    );
    // Field edits were answered by patches (the other edits by full runs).
    let patched = PATCHED_STEPS.load(std::sync::atomic::Ordering::Relaxed);
    let summary = format!(
        "{patched} of {} steps patched; full runs: {:?}",
        cases * 8,
        NOT_PATCHED.lock().unwrap()
    );
    assert!(patched * 2 >= cases as usize, "{summary}");
    assert!(started.elapsed().as_secs() < 600, "{:?}", started.elapsed());
}

/// Runs once to get a memo, then again after `change`; the counts of the second run.
fn counts_after(split: bool, change: impl FnOnce(&mut Tree)) -> (usize, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut tree = read_example(split);
    let world = World {
        preconditions: false,
        ..World::example()
    };
    write_tree(dir.path(), &tree, &world.policy);
    let (memo, total, _) = compare(dir.path(), &world, None, None, "the first run");
    change(&mut tree);
    write_tree(dir.path(), &tree, &world.policy);
    let (_, run, reused) = compare(dir.path(), &world, Some(memo), None, "the change");
    (total, run, reused)
}

fn file_of(tree: &Tree, id: &str) -> String {
    tree.iter()
        .find(|(_, docs)| docs[0].contains(&format!("\nid: {id}\n")))
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| panic!("no document {id}"))
}

/// How many built-in policies apply to `kind`.
fn policies_of(kind: channelguard::model::Kind) -> usize {
    channelguard::policy::BUILTIN_POLICIES
        .iter()
        .filter(|(_, text)| {
            channelguard::policy::meta::parse(text)
                .unwrap()
                .kinds
                .contains(&kind)
        })
        .count()
}

#[test]
fn an_unchanged_tree_reuses_every_evaluation_but_the_printing_ones() {
    let (total, run, reused) = counts_after(true, |_| {});
    // Only X900 on `fabrikam` prints: printed output is never reused.
    assert_eq!((run, reused), (1, total - 1));
}

#[test]
fn changing_one_subscription_reruns_only_what_read_it() {
    let subscription = "contoso-m365-e3-direct";
    let (total, run, reused) = counts_after(true, |tree| {
        let name = file_of(tree, subscription);
        let doc = &mut tree.get_mut(&name).unwrap()[0];
        *doc = set_field(doc, "status", "suspended");
    });
    let subscription_policies = policies_of(channelguard::model::Kind::Subscription);
    // The subscription's own evaluations (the built-in policies of its kind, and X900), the
    // evaluations that looked it up, and the printing one.
    assert!(run > subscription_policies, "{run} run");
    assert!(run * 10 < total, "{run} of {total} run");
    assert_eq!(run + reused, total);
}

#[test]
fn changing_a_customer_reruns_what_looked_it_up() {
    let (total, run, _) = counts_after(true, |tree| {
        let name = file_of(tree, "contoso");
        let doc = &mut tree.get_mut(&name).unwrap()[0];
        *doc = set_field(doc, "tenant_country", "SE");
    });
    // The customer's own evaluations, the evaluations that found it (X900 on each of its
    // subscriptions at least) and the printing one.
    let own = policies_of(channelguard::model::Kind::Customer) + 1;
    assert!(run > own + 1, "{run} run, {own} on the customer");
    assert!(run * 4 < total, "{run} of {total} run");
}

#[test]
fn a_renamed_file_reruns_its_documents_and_what_read_them() {
    let (total, run, _) = counts_after(false, |tree| {
        let docs = tree.remove("customers/contoso.yaml").unwrap();
        tree.insert("customers/contoso-as.yaml".to_string(), docs);
    });
    assert!(run > 0 && run < total, "{run} of {total}");
}

#[test]
fn a_memo_of_another_world_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let tree = read_example(false);
    let mut world = World::example();
    write_tree(dir.path(), &tree, &world.policy);
    let (memo, total, _) = compare(dir.path(), &world, None, None, "the first run");
    world.as_of = "2024-07-01";
    let (memo, run, reused) = compare(dir.path(), &world, Some(memo), None, "as_of");
    assert_eq!((run, reused), (total, 0));
    world.status = "suspended";
    let (_, run, reused) = compare(dir.path(), &world, Some(memo), None, "a setting");
    assert_eq!((run, reused), (total, 0));
    // A schema edit that changes no field list (a description) is another world too.
    let schemas = dir.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    for entry in std::fs::read_dir("schemas").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        std::fs::copy(&path, schemas.join(path.file_name().unwrap())).unwrap();
    }
    world.schemas = Some(schemas.clone());
    let (memo, _, _) = compare(dir.path(), &world, None, None, "copied schemas");
    let (memo, run, reused) = compare(dir.path(), &world, Some(memo), None, "copied schemas again");
    assert_eq!((run, reused), (1, total - 1));
    let customer = schemas.join("customer.json");
    let text = std::fs::read_to_string(&customer).unwrap();
    let edited = text.replacen("\"description\": \"", "\"description\": \"Edited. ", 1);
    assert_ne!(text, edited);
    std::fs::write(&customer, edited).unwrap();
    let (_, run, reused) = compare(dir.path(), &world, Some(memo), None, "a schema description");
    assert_eq!((run, reused), (total, 0));
}
