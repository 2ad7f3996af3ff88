//! The console's static files, embedded by `build.rs` under content-hashed names and served
//! from `/assets/{file}` with a one-year immutable cache (a changed file gets a new name).
//! Templates name them by their plain name through the `asset` map (`{{ asset["htmx.js"] }}`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::routes::{Need, Routes};

pub struct Asset {
    /// The name templates use (`htmx.js`).
    pub name: &'static str,
    /// The served, content-hashed file name (`htmx-0123456789abcdef.js`).
    pub file: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

pub const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Plain name → URL, for the templates.
pub static URLS: LazyLock<BTreeMap<&'static str, String>> =
    LazyLock::new(|| ASSETS.iter().map(|asset| (asset.name, format!("/assets/{}", asset.file))).collect());

pub fn router() -> Routes {
    Routes::new().get("/assets/{file}", Need::Public, serve)
}

async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.file == file) else {
        return crate::identity::pages::error_page(StatusCode::NOT_FOUND);
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response
}
