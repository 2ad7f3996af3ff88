//! The console's static files, embedded by `build.rs` under content-hashed names and served
//! from `/assets/{file}` with a one-year immutable cache (a changed file gets a new name).
//! Templates name them by their plain name through the `asset` map (`{{ asset["htmx.js"] }}`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::routes::{Need, Routes};

pub struct Asset {
    /// The name templates use (`htmx.js`).
    pub name: &'static str,
    /// The served, content-hashed file name (`htmx-0123456789abcdef.js`).
    pub file: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// The same bytes gzipped (by `build.rs`), when that is smaller.
    pub gzip: Option<&'static [u8]>,
}

pub const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Plain name → URL, for the templates.
pub static URLS: LazyLock<BTreeMap<&'static str, String>> =
    LazyLock::new(|| ASSETS.iter().map(|asset| (asset.name, format!("/assets/{}", asset.file))).collect());

pub fn router() -> Routes {
    Routes::new().get("/assets/{file}", Need::Public, serve)
}

/// Whether the request's `Accept-Encoding` takes gzip (and does not refuse it with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts
                .any(|parameter| parameter.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()) == Some(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

async fn serve(Path(file): Path<String>, request: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.file == file) else {
        return crate::identity::pages::error_page(StatusCode::NOT_FOUND);
    };
    let packed = asset.gzip.filter(|_| accepts_gzip(&request));
    let mut response = packed.unwrap_or(asset.bytes).into_response();
    let headers = response.headers_mut();
    if asset.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if packed.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response
}
