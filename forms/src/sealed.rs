//! Sensitive values at rest (issue 13): a field marked `sensitive` is stored sealed with SM4-GCM
//! through the node's crypto provider, as `{"$sealed": "<base64>"}` in the record's document;
//! the sealed bytes are bound to their place (form, record, field) by the associated data, so
//! a value copied into another record or field does not open. A unique sensitive field is
//! found by its blind index (HMAC-SM3 under the index key), never by its text; search text and
//! history never hold it in clear (the history keeps the masked text).
//!
//! Values written before this (in clear) are read as they are, and sealed by the start-up pass
//! (`records::reindex`).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::definition::{Field, Form};

/// The member that marks a sealed value.
pub const SEALED: &str = "$sealed";

/// Why a sealed value could not be made or read (a wrong or missing key, damaged bytes).
#[derive(Debug, thiserror::Error)]
#[error("sealed value of {form}/{record} field '{field}': {message}")]
pub struct SealError {
    pub form: String,
    pub record: String,
    pub field: String,
    pub message: String,
}

fn aad(form: &str, record: &str, field: &str) -> Vec<u8> {
    format!("form-record\u{1f}{form}\u{1f}{record}\u{1f}{field}").into_bytes()
}

/// Whether a stored value is sealed.
pub fn is_sealed(value: &Value) -> bool {
    matches!(value, Value::Object(object) if object.len() == 1 && object.get(SEALED).is_some_and(Value::is_string))
}

/// The values as stored: each sensitive field's value sealed (a value sealed already stays).
pub fn seal(
    form: &Form,
    crypto: &dyn crypto::CryptoProvider,
    record: &str,
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, SealError> {
    let mut stored = values.clone();
    for field in form.fields.iter().filter(|field| field.sensitive) {
        let Some(value) = stored.get_mut(&field.key) else { continue };
        if value.is_null() || is_sealed(value) {
            continue;
        }
        let plain = zeroize::Zeroizing::new(value.to_string());
        let sealed =
            crypto.encrypt(plain.as_bytes(), &aad(&form.key, record, &field.key)).map_err(|error| SealError {
                form: form.key.clone(),
                record: record.to_string(),
                field: field.key.clone(),
                message: error.to_string(),
            })?;
        let mut object = Map::new();
        object.insert(SEALED.into(), Value::String(base64::engine::general_purpose::STANDARD.encode(sealed)));
        *value = Value::Object(object);
    }
    Ok(stored)
}

/// The values in clear: every sealed value opened (whatever the definition says now, so a
/// field that stopped being sensitive still reads).
pub fn open(
    form: &str,
    crypto: &dyn crypto::CryptoProvider,
    record: &str,
    stored: Map<String, Value>,
) -> Result<Map<String, Value>, SealError> {
    let mut values = stored;
    for (key, value) in values.iter_mut() {
        if !is_sealed(value) {
            continue;
        }
        let failed = |message: String| SealError {
            form: form.to_string(),
            record: record.to_string(),
            field: key.clone(),
            message,
        };
        let text = value.get(SEALED).and_then(Value::as_str).unwrap_or_default();
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|error| failed(error.to_string()))?;
        let plain = zeroize::Zeroizing::new(
            crypto.decrypt(&bytes, &aad(form, record, key)).map_err(|error| failed(error.to_string()))?,
        );
        *value = serde_json::from_slice(&plain).map_err(|error| failed(error.to_string()))?;
    }
    Ok(values)
}

/// The cells of an import row as uploaded (`form_import_rows.raw`, a JSON list of texts): for a
/// form with sensitive fields sealed whole (`{"$sealed": …}`, bound to the job and the row), so
/// the 身份证 numbers of an upload are not kept in clear while the job waits for its commit.
pub fn seal_cells(
    form: &Form,
    crypto: &dyn crypto::CryptoProvider,
    import_id: &str,
    row_no: i64,
    cells: &[String],
) -> Result<String, SealError> {
    let text = zeroize::Zeroizing::new(serde_json::to_string(cells).unwrap_or_else(|_| "[]".into()));
    if !form.fields.iter().any(|field| field.sensitive) {
        return Ok(text.to_string());
    }
    let sealed = crypto.encrypt(text.as_bytes(), &cells_aad(import_id, row_no)).map_err(|error| SealError {
        form: form.key.clone(),
        record: format!("import {import_id} row {row_no}"),
        field: String::new(),
        message: error.to_string(),
    })?;
    let mut object = Map::new();
    object.insert(SEALED.into(), Value::String(base64::engine::general_purpose::STANDARD.encode(sealed)));
    Ok(Value::Object(object).to_string())
}

/// The cells [`seal_cells`] stored, opened (cells stored in clear read as they are).
pub fn open_cells(
    crypto: &dyn crypto::CryptoProvider,
    import_id: &str,
    row_no: i64,
    stored: &str,
) -> Result<Vec<String>, SealError> {
    let failed = |message: String| SealError {
        form: String::new(),
        record: format!("import {import_id} row {row_no}"),
        field: String::new(),
        message,
    };
    let value: Value = serde_json::from_str(stored).map_err(|error| failed(error.to_string()))?;
    if !is_sealed(&value) {
        return serde_json::from_value(value).map_err(|error| failed(error.to_string()));
    }
    let text = value.get(SEALED).and_then(Value::as_str).unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|error| failed(error.to_string()))?;
    let plain = zeroize::Zeroizing::new(
        crypto.decrypt(&bytes, &cells_aad(import_id, row_no)).map_err(|error| failed(error.to_string()))?,
    );
    serde_json::from_slice(&plain).map_err(|error| failed(error.to_string()))
}

fn cells_aad(import_id: &str, row_no: i64) -> Vec<u8> {
    format!("form-import\u{1f}{import_id}\u{1f}{row_no}").into_bytes()
}

/// Whether the stored values hold a sealed value of a field the form no longer marks
/// sensitive (it is to be stored in clear again, and its unique value held as text, not as a
/// blind index, or uniqueness would compare text with indexes).
pub fn stale_seals(form: &Form, stored: &Map<String, Value>) -> bool {
    form.fields.iter().filter(|field| !field.sensitive).any(|field| stored.get(&field.key).is_some_and(is_sealed))
}

/// Whether the stored values hold a sensitive value in clear (written before sealing).
pub fn needs_sealing(form: &Form, stored: &Map<String, Value>) -> bool {
    form.fields
        .iter()
        .filter(|field| field.sensitive)
        .any(|field| stored.get(&field.key).is_some_and(|value| !value.is_null() && !is_sealed(value)))
}

/// The blind index a unique sensitive value is found by (its text as the unique check
/// compares it, so equal values meet).
pub fn index(crypto: &dyn crypto::CryptoProvider, form: &Form, field: &Field, text: &str) -> Result<String, SealError> {
    crypto.blind_index(&format!("form:{}.{}", form.key, field.key), text).map_err(|error| SealError {
        form: form.key.clone(),
        record: String::new(),
        field: field.key.clone(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> crate::Catalog {
        crate::Catalog::from_files(vec![(
            "forms/test/person.toml".into(),
            "key = \"person\"\nname = \"人\"\ntitle = \"name\"\n[[fields]]\nkey = \"name\"\nlabel = \"姓名\"\ntype = \"text\"\n[[fields]]\nkey = \"id_number\"\nlabel = \"身份证号\"\ntype = \"text\"\nsensitive = true\n".into(),
        )])
        .expect("valid")
    }

    #[test]
    fn a_sensitive_value_is_sealed_to_its_place_and_opens_only_there() {
        let catalog = catalog();
        let form = catalog.form("person").expect("form");
        let crypto = crypto::SoftwareCrypto::generate().expect("keys");
        let values: Map<String, Value> =
            serde_json::from_str(r#"{"name": "王建国", "id_number": "310101198001010018"}"#).expect("json");
        let stored = seal(form, &crypto, "r1", &values).expect("sealed");
        assert_eq!(stored["name"], "王建国", "what is not sensitive stays in clear");
        assert!(is_sealed(&stored["id_number"]));
        assert!(!Value::Object(stored.clone()).to_string().contains("310101198001010018"), "no clear text at rest");
        assert!(!needs_sealing(form, &stored));
        assert!(needs_sealing(form, &values));
        assert_eq!(open("person", &crypto, "r1", stored.clone()).expect("opens"), values);
        // Bound to its record: copied into another record it does not open.
        assert!(open("person", &crypto, "r2", stored.clone()).is_err());
        // Another node's key does not open it either.
        assert!(open("person", &crypto::SoftwareCrypto::generate().expect("keys"), "r1", stored).is_err());
        // Equal values meet in the index; the index is not the value.
        let field = form.field("id_number").expect("field");
        let a = index(&crypto, form, field, "310101198001010018").expect("index");
        assert_eq!(a, index(&crypto, form, field, "310101198001010018").expect("index"));
        assert_ne!(a, index(&crypto, form, field, "310101198001010026").expect("index"));
        assert!(!a.contains("310101"));
    }
}
