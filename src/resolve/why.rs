//! `distill why`: explain how a package got into (or stayed out of) a
//! resolution, from the [`Edge`]s the resolver recorded.

use super::{Edge, Resolution};

/// Most chains listed before the list is cut.
pub const MAX_CHAINS: usize = 64;

/// The explanation for one package.
#[derive(Debug, Clone, Default)]
pub struct Why {
    /// Each chain is `spec → a → … → target`, every step with the
    /// dependency text that made it (`a --Depends: b (>= 1)--> b`).
    pub chains: Vec<Vec<(String, String)>>,
    /// True when more than [`MAX_CHAINS`] chains exist.
    pub truncated: bool,
    /// Edges that the target meets.
    pub met: Vec<Edge>,
    /// Edges where the target was considered and passed over, with the reason.
    pub passed_over: Vec<(Edge, String)>,
}

/// Explain `target` in `res`.
pub fn why(res: &Resolution, target: &str) -> Why {
    let mut w = Why {
        met: res.edges.iter().filter(|e| e.to.as_deref() == Some(target)).cloned().collect(),
        ..Default::default()
    };
    for e in &res.edges {
        for p in &e.passed_over {
            let subject = p.split([' ', ':']).next().unwrap_or("");
            if subject == target {
                w.passed_over.push((e.clone(), p.clone()));
            }
        }
    }
    let mut on_path = vec![target.to_string()];
    walk(res, target, &mut on_path, &mut Vec::new(), &mut w);
    w.chains.sort();
    w
}

/// Depth-first walk backwards from `node` to the spec. `on_path` holds the
/// nodes of the current path (chains are simple paths; cycles are cut),
/// `steps` the (node, via) pairs from the target back to `node`.
fn walk(res: &Resolution, node: &str, on_path: &mut Vec<String>, steps: &mut Vec<(String, String)>, w: &mut Why) {
    for e in res.edges.iter().filter(|e| e.to.as_deref() == Some(node)) {
        if w.chains.len() >= MAX_CHAINS {
            w.truncated = true;
            return;
        }
        if on_path.contains(&e.from) {
            continue;
        }
        steps.push((node.to_string(), format!("{}: {}", e.field, e.dependency)));
        if e.from == "spec" {
            let mut chain = vec![("spec".to_string(), String::new())];
            chain.extend(steps.iter().rev().cloned());
            w.chains.push(chain);
        } else {
            on_path.push(e.from.clone());
            walk(res, &e.from, on_path, steps, w);
            on_path.pop();
        }
        steps.pop();
    }
}

/// Render a [`Why`] as text lines.
pub fn render(target: &str, w: &Why, installed: Option<&str>) -> String {
    let mut out = String::new();
    match installed {
        Some(v) => out.push_str(&format!("{target} {v} is installed.\n")),
        None => out.push_str(&format!("{target} is not installed.\n")),
    }
    if !w.chains.is_empty() {
        out.push_str(&format!(
            "\nchains from the spec ({}{}):\n",
            w.chains.len(),
            if w.truncated { ", truncated" } else { "" }
        ));
        for chain in &w.chains {
            let mut line = String::from("  spec");
            for (node, via) in chain.iter().skip(1) {
                line.push_str(&format!(" --[{via}]--> {node}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    let with_others: Vec<&Edge> = w.met.iter().filter(|e| !e.passed_over.is_empty()).collect();
    if !with_others.is_empty() {
        out.push_str("\nalternatives and providers not taken where it was chosen:\n");
        for e in with_others {
            out.push_str(&format!("  {} {}: {}\n", e.from, e.field, e.dependency));
            for p in &e.passed_over {
                out.push_str(&format!("    - {p}\n"));
            }
        }
    }
    if !w.passed_over.is_empty() {
        out.push_str(&format!("\nwhere {target} was passed over:\n"));
        for (e, reason) in &w.passed_over {
            out.push_str(&format!(
                "  {} {}: {} → {}\n    - {reason}\n",
                e.from,
                e.field,
                e.dependency,
                e.to.as_deref().unwrap_or("(dropped)")
            ));
        }
    }
    out
}
