//! Puts the web console's static files into the binary (issue 12).
//!
//! Front-end packages come from the npm registry through `web/package.json` and its lockfile:
//! when `web/node_modules` is missing or older than the lockfile, this runs `npm ci`, and when
//! Node.js is not installed it stops with one sentence saying what to install. The files the
//! pages use (listed in [`ASSETS`]) and our own `web/assets/` are copied under content-hashed
//! names; `$OUT_DIR/assets.rs` lists them for `web/src/assets.rs`, which serves them with long
//! cache headers. No third-party file is committed. Text assets are also embedded gzipped
//! (best compression, once, here), so a browser that accepts gzip gets the editor's 1.7 MB
//! script as about a quarter of that without the server compressing on every request.
//!
//! The BPMN editor (`front/modeler.js` with our properties-panel group, and `front/modeler.css`)
//! is bundled here by esbuild, a pinned development package of the same lockfile, into
//! `$OUT_DIR/front/`: one script and one stylesheet (bpmn-js's font inlined), so the page
//! loads two files and the content-security policy stays `'self'`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (name the templates use, path under `web/`).
const ASSETS: &[(&str, &str)] = &[
    ("htmx.js", "node_modules/htmx.org/dist/htmx.min.js"),
    ("bpmn-viewer.js", "node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js"),
    ("diagram-js.css", "node_modules/bpmn-js/dist/assets/diagram-js.css"),
    ("bpmn-js.css", "node_modules/bpmn-js/dist/assets/bpmn-js.css"),
    ("console.css", "assets/console.css"),
    ("console.js", "assets/console.js"),
];

fn main() {
    let web = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=package.json");
    println!("cargo:rerun-if-changed=package-lock.json");
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=front");
    println!("cargo:rerun-if-changed=node_modules/.package-lock.json");
    install_packages(&web);

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut assets: Vec<(&str, PathBuf)> = ASSETS.iter().map(|(name, source)| (*name, web.join(source))).collect();
    assets.extend(bundle(&web, &out));
    let mut table = String::from("&[\n");
    for (name, path) in assets {
        let bytes = fs::read(&path).unwrap_or_else(|error| {
            panic!("web console asset {} cannot be read ({error}); run `npm ci` in web/", path.display())
        });
        let (stem, extension) = name.rsplit_once('.').expect("asset names have an extension");
        let file = format!("{stem}-{:016x}.{extension}", fnv1a(&bytes));
        let gzip = match gzipped(&bytes) {
            Some(packed) if extension != "woff2" => {
                let packed_path = out.join(format!("{file}.gz"));
                fs::write(&packed_path, packed).expect("OUT_DIR is writable");
                format!("Some(include_bytes!({:?}))", packed_path.display().to_string())
            }
            _ => "None".to_string(),
        };
        table.push_str(&format!(
            "    Asset {{ name: {name:?}, file: {file:?}, content_type: {:?}, bytes: include_bytes!({:?}), gzip: {gzip} }},\n",
            content_type(extension),
            path.display().to_string(),
        ));
    }
    table.push(']');
    fs::write(out.join("assets.rs"), table).expect("OUT_DIR is writable");
}

/// The editor's script and stylesheet, bundled and minified by esbuild.
fn bundle(web: &Path, out: &Path) -> Vec<(&'static str, PathBuf)> {
    let target = out.join("front");
    let esbuild = web.join("node_modules/.bin").join(if cfg!(windows) { "esbuild.cmd" } else { "esbuild" });
    let mut bundled = Vec::new();
    for (name, entry, extra) in [
        ("modeler.js", "front/modeler.js", &["--format=iife", "--loader:.json=json"][..]),
        (
            "modeler.css",
            "front/modeler.css",
            &[
                "--loader:.woff=dataurl",
                "--loader:.woff2=dataurl",
                "--loader:.ttf=dataurl",
                "--loader:.eot=dataurl",
                "--loader:.svg=dataurl",
            ][..],
        ),
    ] {
        let output = target.join(name);
        let status = Command::new(&esbuild)
            .arg(entry)
            .args(["--bundle", "--minify", "--log-level=warning", "--legal-comments=eof"])
            .args(extra)
            .arg(format!("--outfile={}", output.display()))
            .current_dir(web)
            .status();
        match status {
            Ok(status) if status.success() => bundled.push((name, output)),
            Ok(status) => panic!("esbuild could not bundle web/{entry} ({status}): see its output above"),
            Err(error) => panic!("esbuild ({}) cannot run ({error}); run `npm ci` in web/", esbuild.display()),
        }
    }
    bundled
}

/// `npm ci` when the installed packages are missing or older than the lockfile.
fn install_packages(web: &Path) {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (modified(&lock), modified(&installed)) {
        (Some(lock), Some(installed)) => installed < lock,
        _ => true,
    };
    if !stale {
        return;
    }
    let status = Command::new(if cfg!(windows) { "npm.cmd" } else { "npm" })
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(web)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`npm ci` in web/ failed ({status}): see its output above"),
        Err(_) => panic!(
            "The web console's front-end packages need Node.js 18 or newer with npm: install it \
             (Debian: apt-get install nodejs npm) and build again."
        ),
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|metadata| metadata.modified()).ok()
}

/// `bytes` gzipped, when that is smaller.
fn gzipped(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let packed = encoder.finish().ok()?;
    (packed.len() < bytes.len()).then_some(packed)
}

/// 64-bit FNV-1a: enough to give each version of a file its own name for caching.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn content_type(extension: &str) -> &'static str {
    match extension {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
