//! How the code is laid out, checked: the core build path imports nothing from the
//! transforms, no primitive's dispatch falls back on a catch-all arm, and no source file
//! of the workspace outgrows a reading.

use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A file's lines with `//` comments cut off.
fn code_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| l.split("//").next().unwrap_or("").to_string()).collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_build_path_and_the_primitives_import_nothing_from_autodiff() {
    let mut files = vec![src().join("tensor.rs"), src().join("node.rs"), src().join("interp.rs")];
    files.extend(rust_files(&src().join("prim")));
    files.extend(rust_files(&src().join("backend")));
    for f in files {
        for (i, l) in code_lines(&f).iter().enumerate() {
            let imports = l.contains("autodiff::") || l.contains("crate::autodiff");
            assert!(!imports, "{}:{}: {l}", f.display(), i + 1);
        }
    }
}

/// Evaluation reaches a device only through the `Backend` trait: no code but a backend
/// calls a primitive's per-device eval.
#[test]
fn only_backends_call_a_primitives_eval() {
    for f in rust_files(&src()) {
        let inside = f.starts_with(src().join("backend")) || f.starts_with(src().join("prim"));
        for (i, l) in code_lines(&f).iter().enumerate() {
            let calls = l.contains(".eval_cpu(") && !l.contains("fn eval_cpu");
            assert!(inside || !calls, "{}:{}: {l}", f.display(), i + 1);
        }
    }
}

#[test]
fn no_primitive_dispatch_has_a_catch_all_arm() {
    for f in rust_files(&src().join("prim")) {
        for (i, l) in code_lines(&f).iter().enumerate() {
            assert!(!l.trim_start().starts_with("_ =>"), "{}:{}: {l}", f.display(), i + 1);
        }
    }
}

#[test]
fn no_source_file_is_over_800_lines() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/");
    for f in rust_files(crates) {
        let n = fs::read_to_string(&f).unwrap().lines().count();
        assert!(n <= 800, "{} has {n} lines", f.display());
    }
}

/// ARCHITECTURE.md's table of primitives is `Prim::markdown_table()`, generated from the
/// definitions; `PSIONIC_BLESS=1` (`scripts/op_table.sh`) rewrites it.
#[test]
fn architecture_lists_every_primitive_where_it_is_defined() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md");
    let doc = fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- primitives:begin -->\n", "<!-- primitives:end -->");
    let start = doc.find(begin).expect("ARCHITECTURE.md has the primitives markers") + begin.len();
    let stop = doc[start..].find(end).expect("the end marker") + start;
    let want = crate::prim::Prim::markdown_table();
    if std::env::var_os("PSIONIC_BLESS").is_some() {
        fs::write(&path, format!("{}{want}{}", &doc[..start], &doc[stop..])).unwrap();
        return;
    }
    assert!(doc[start..stop] == want, "ARCHITECTURE.md's primitive table is stale: run scripts/op_table.sh");
    // Every definition file named exists.
    for r in crate::prim::Prim::TABLE {
        assert!(src().join("prim").join(r.definition).exists(), "{}: prim/{} is missing", r.name, r.definition);
    }
}
