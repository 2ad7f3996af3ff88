//! Server-rendered pages: tera templates from `web/templates/`, compiled into the binary.
//! Every template name ends in `.html`, so tera escapes every value it prints; markup is only
//! ever what a template file holds (no HTML is assembled from strings in Rust). The Chinese
//! text of a page lives in its template.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use tera::Context;

/// Embeds each named file of `web/templates/`.
macro_rules! embedded {
    ($($name:literal),* $(,)?) => { &[$(($name, include_str!(concat!("../templates/", $name)))),*] };
}

const TEMPLATES: &[(&str, &str)] = embedded![
    "components.html",
    "base.html",
    "shell.html",
    "login.html",
    "home.html",
    "inbox.html",
    "task.html",
    "audit.html",
    "batch.html",
    "processes.html",
    "process.html",
    "editor.html",
    "instances.html",
    "instance.html",
    "start.html",
    "start_form.html",
    "mine.html",
    "people.html",
    "form_choices.html",
    "m_forms.html",
    "m_form_list.html",
    "m_form_edit.html",
    "m_form_record.html",
    "print.html",
    "accounts.html",
    "units.html",
    "system.html",
    "forms.html",
    "form_list.html",
    "form_edit.html",
    "form_record.html",
    "form_import.html",
    "form_import_job.html",
    "form_bulk.html",
    "mobile.html",
    "m_todo.html",
    "m_login.html",
    "m_home.html",
    "m_messages.html",
    "venue_schedule.html",
    "m_instance.html",
    "m_task.html",
    "password.html",
    "totp.html",
    "error.html"
];

static ENGINE: LazyLock<Result<tera::Tera, String>> = LazyLock::new(|| {
    let mut tera = tera::Tera::new();
    tera.add_raw_templates(TEMPLATES.iter().copied()).map_err(|error| format!("templates: {error}"))?;
    Ok(tera)
});

/// `text` as a QR code: an SVG image in a `data:` address (the CSP allows data: images), the
/// encoder choosing the smallest version; `None` when the text is too long for a QR code.
pub fn qr_image(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, svg)
    ))
}

/// Compiles every template; `serve` and `check` call this before they do anything else.
pub fn check() -> Result<(), String> {
    ENGINE.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Renders one template.
pub fn render(name: &str, context: &Context) -> Result<String, String> {
    let engine = ENGINE.as_ref().map_err(Clone::clone)?;
    let mut context = context.clone();
    context.insert("asset", &*crate::assets::URLS);
    engine.render(name, &context).map_err(|error| format!("template {name}: {error}"))
}

/// An HTML response from a template. A template that fails to render (a bug, caught by the
/// tests) answers 500 with a fixed sentence, never a partial page.
pub fn page(status: StatusCode, name: &str, context: &Context) -> Response {
    let (status, body) = match render(name, context) {
        Ok(body) => (status, body),
        Err(error) => {
            tracing::error!(%error, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "服务器内部错误 (internal error)".to_string())
        }
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        assert_eq!(super::check(), Ok(()));
    }
}
