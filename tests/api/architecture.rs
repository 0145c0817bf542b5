//! The layout of `src/` as tested facts (docs/architecture.md): no two
//! modules import each other, directly or through others; the scoring core
//! imports neither the trainer nor the server; the trainer never imports the
//! server and the server never the trainer; `tonic::Status` is built in
//! `serve/status.rs` only. Cargo features make the part rules compile-time
//! facts too (`scripts/check_parts.sh`); this test also catches circles
//! inside a part, which the compiler allows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`scoring::model`) → its source with comments and the
/// `#[cfg(test)]` module cut off.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).expect("under src");
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.starts_with("bin/") || rel == "lib.rs" {
            continue;
        }
        let name = rel
            .trim_end_matches(".rs")
            .trim_end_matches("/mod")
            .replace('/', "::");
        let text = std::fs::read_to_string(&file).expect("readable source");
        out.insert(name, production_code(&text));
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code before the first `#[cfg(test)]` / `#[cfg(all(test` item, with
/// `//` comments removed (doc links are not imports).
fn production_code(text: &str) -> String {
    let cut = ["#[cfg(test)]", "#[cfg(all(test"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b::…` path in `code`, also inside `crate::a::{b, c}`
/// use-lists, resolved to the longest module it names.
fn imports(name: &str, code: &str, all: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |segments: &[&str]| {
        for k in (1..=segments.len()).rev() {
            let target = segments[..k].join("::");
            if all.contains_key(&target) {
                if target != name && !name.starts_with(&format!("{target}::")) {
                    out.insert(target);
                }
                return;
            }
        }
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        add(&segments);
        if path.ends_with("::") && rest[path.len()..].starts_with('{') {
            let list = &rest[path.len() + 1..];
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                let item = item.trim().split("::").next().unwrap_or_default();
                let mut full = segments.clone();
                full.push(item);
                add(&full);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let all = modules();
    all.iter()
        .map(|(name, code)| (name.clone(), imports(name, code, &all)))
        .collect()
}

#[test]
fn no_two_modules_import_each_other_directly_or_through_others() {
    let graph = graph();
    assert!(graph.len() > 20, "found only {} modules", graph.len());
    // Depth-first search with colours; a grey module met again closes a circle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => return None,
            Some(false) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut circle: Vec<String> =
                    stack[start..].iter().map(|s| s.to_string()).collect();
                circle.push(node.to_string());
                return Some(circle);
            }
            None => {}
        }
        state.insert(node, false);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, state, stack) {
                return Some(circle);
            }
        }
        stack.pop();
        state.insert(node, true);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        let circle = visit(node, &graph, &mut state, &mut Vec::new());
        assert!(
            circle.is_none(),
            "import circle: {}",
            circle.unwrap_or_default().join(" → ")
        );
    }
}

#[test]
fn each_part_imports_only_what_it_may() {
    let graph = graph();
    let part = |m: &str| m.split("::").next().unwrap_or_default().to_string();
    let mut wrong = Vec::new();
    for (module, targets) in &graph {
        for target in targets {
            let allowed = match (part(module).as_str(), part(target).as_str()) {
                (a, b) if a == b => true,
                (_, "scoring") => true,
                _ => false,
            };
            if !allowed {
                wrong.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports across parts: {wrong:?}");
    // And the check itself sees imports: the server uses the core.
    assert!(graph["serve::grpc"]
        .iter()
        .any(|t| t.starts_with("scoring::")));
}

#[test]
fn the_scoring_core_names_no_transport_or_fitting_crate() {
    let forbidden = [
        "tonic::",
        "prost::",
        "tokio::",
        "hyper::",
        "axum::",
        "linfa",
        "csv::",
        "parquet::",
        "indicatif::",
    ];
    for (module, code) in modules() {
        if !module.starts_with("scoring") {
            continue;
        }
        for crate_name in forbidden {
            assert!(!code.contains(crate_name), "{module} uses {crate_name}");
        }
    }
}

#[test]
fn grpc_statuses_are_built_in_serve_status_only() {
    let constructors = [
        "Status::new(",
        "Status::internal(",
        "Status::invalid_argument(",
        "Status::not_found(",
        "Status::unavailable(",
        "Status::deadline_exceeded(",
        "Status::resource_exhausted(",
        "Status::with_error_details(",
        "Status::out_of_range(",
        "Status::unimplemented(",
        "Status::failed_precondition(",
        "Status::cancelled(",
        "Status::unknown(",
        "Status::permission_denied(",
        "Status::unauthenticated(",
        "Status::aborted(",
    ];
    let mut found = Vec::new();
    for (module, code) in modules() {
        if module == "serve::status" {
            assert!(
                code.contains("Status::invalid_argument(")
                    || code.contains("Status::with_error_details(")
            );
            continue;
        }
        for c in constructors {
            if code.contains(c) {
                found.push(format!("{module}: {c}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tonic::Status built outside serve::status: {found:?}"
    );
}
