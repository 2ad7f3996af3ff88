//! Embeds `definitions/forms/<module>/*.toml` and `definitions/dicts/*.toml` in the binary (one
//! binary, no files to ship beside it): writes `$OUT_DIR/embedded.rs`, a list of
//! `(path, include_str!(…))`. A definition added or changed rebuilds the crate.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn toml_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() && depth > 0 {
            toml_files(&path, depth - 1, out);
        } else if path.extension().is_some_and(|extension| extension == "toml") {
            out.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../definitions");
    println!("cargo:rerun-if-changed={}", root.join("forms").display());
    println!("cargo:rerun-if-changed={}", root.join("dicts").display());
    println!("cargo:rerun-if-changed={}", root.join("org/units.json").display());
    let mut files = Vec::new();
    toml_files(&root.join("dicts"), 0, &mut files);
    toml_files(&root.join("forms"), 1, &mut files);
    let mut code = String::from(
        "/// (path under `definitions/`, text) of every shipped definition.\npub(crate) const EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        // Each module folder is watched too, so a new file in it is seen.
        if let Some(parent) = file.parent() {
            println!("cargo:rerun-if-changed={}", parent.display());
        }
        let relative =
            file.strip_prefix(&root).map(|path| path.to_string_lossy().replace('\\', "/")).unwrap_or_default();
        let absolute = file.canonicalize().unwrap_or_else(|_| file.clone());
        let _ = writeln!(code, "    ({relative:?}, include_str!({:?})),", absolute.display().to_string());
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("embedded.rs");
    if let Err(error) = std::fs::write(&out, code) {
        panic!("cannot write {}: {error}", out.display());
    }
}
