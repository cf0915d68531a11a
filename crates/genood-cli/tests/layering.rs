//! The workspace's layering, read from its sources: no two files of a crate import each other
//! in a circle, the library crates neither parse flags nor print, and no command of the CLI
//! imports another command's module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The CLI's modules that every command may use; the others are commands.
const CLI_SHARED: [&str; 7] = [
    "choices",
    "comparison",
    "device",
    "graceful",
    "numbers",
    "progress",
    "scoring",
];

/// Every `.rs` file under `dir`, by its module path (`sweep::jobs` for `sweep/jobs.rs`, `sweep`
/// for `sweep/mod.rs`, `` for `lib.rs` or `main.rs`), with its lines that are not comments.
fn modules(dir: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(dir).unwrap().with_extension("");
                let mut parts: Vec<String> = relative
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                found.insert(parts.join("::"), code.join("\n"));
            }
        }
    }
    found
}

/// The modules of `modules` that `code` names through `crate::` paths (the longest module
/// that each path starts with; the crate root left out).
fn imports(code: &str, modules: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let path: String = code[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        if let Some(module) = (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| modules.contains_key(m))
        {
            found.insert(module);
        }
    }
    found
}

/// A path of imports from `from` back to itself, if there is one.
fn circle(from: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        for next in &graph[path.last().unwrap()] {
            if next == from {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push([path.clone(), vec![next.clone()]].concat());
            }
        }
    }
    None
}

fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut crates: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    crates.sort();
    assert!(
        crates.len() >= 7,
        "crates not found under {}",
        root.display()
    );
    crates
}

#[test]
fn no_two_files_import_each_other_in_a_circle() {
    let mut circles = Vec::new();
    for src in crates() {
        let modules = modules(&src);
        let graph: BTreeMap<String, BTreeSet<String>> = modules
            .iter()
            .map(|(name, code)| {
                let mut imported = imports(code, &modules);
                imported.remove(name);
                (name.clone(), imported)
            })
            .collect();
        for name in graph.keys() {
            if let Some(path) = circle(name, &graph) {
                circles.push(format!("{}: {}", src.display(), path.join(" → ")));
            }
        }
    }
    assert!(circles.is_empty(), "{}", circles.join("\n"));
}

#[test]
fn the_library_crates_neither_parse_flags_nor_print() {
    let mut found = Vec::new();
    for src in crates().iter().filter(|p| !p.ends_with("genood-cli/src")) {
        for (module, code) in modules(src) {
            for word in ["clap", "println!", "print!(", "eprint"] {
                if code.contains(word) {
                    found.push(format!("{} {module}: {word}", src.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_command_imports_another_command() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    assert!(modules.contains_key("train") && modules.contains_key("progress"));
    let mut found = Vec::new();
    for (module, code) in modules.iter().filter(|(m, _)| !m.is_empty()) {
        for imported in imports(code, &modules) {
            if !CLI_SHARED.contains(&imported.as_str()) {
                found.push(format!("{module} imports the command {imported}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
