//! Embeds the built-in policy pack (`policies/*.rhai`) and its test cases
//! (`policies/tests/**/*.yaml`) into the binary, so `channelguard` needs no files at run time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, extension, out);
        } else if path.extension().is_some_and(|x| x == extension) {
            out.push(path);
        }
    }
}

fn table(name: &str, root: &Path, files: &[PathBuf]) -> String {
    let mut code = format!("pub const {name}: &[(&str, &str)] = &[\n");
    for file in files {
        let relative = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            code,
            "    ({relative:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    code
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let policies = root.join("policies");
    println!("cargo:rerun-if-changed=policies");
    let mut scripts = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&policies) {
        let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        scripts.extend(
            paths
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "rhai")),
        );
    }
    let mut cases = Vec::new();
    collect(&policies.join("tests"), "yaml", &mut cases);
    for path in scripts.iter().chain(&cases) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let mut code = table("BUILTIN_POLICIES", &root, &scripts);
    code.push_str(&table("BUILTIN_POLICY_TESTS", &root, &cases));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("builtin_policies.rs");
    std::fs::write(out, code).unwrap();
}
