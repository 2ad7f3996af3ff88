//! Dynamic forms (issue 13): definitions that generate the admin screens, validation, list
//! queries, export and (later) import. A form is a TOML file under
//! `definitions/forms/<module>/`, its dictionaries are under `definitions/dicts/`; both are
//! embedded in the binary and read into a [`Catalog`] when the node starts (`docs/forms.md`
//! describes the format and what a changed definition does to stored records).
//!
//! What it must never do: write SQL of its own (records go through the `store` port
//! `FormStore`) or trust the browser (the server validates every submission against the same
//! definition; the page's hints are generated from it). It knows nothing of HTTP.

pub mod definition;
pub mod ids;
pub mod import;
pub mod records;
pub mod sealed;
pub mod sheets;
pub mod task;
pub mod uploads;
pub mod value;

use std::collections::{BTreeMap, HashSet};

pub use definition::{Access, Dict, Field, FieldKind, Form, Permissions, SortKey, View, Workflow};
pub use value::{FieldError, Mode, validate};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The 16 districts, the `district` dictionary (one source with the organisation tree).
const UNITS: &str = include_str!("../../definitions/org/units.json");

/// What is wrong with a definition: the file, the field (when it is about one) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(formatter, "{}: field '{field}': {}", self.file, self.message),
            None => write!(formatter, "{}: {}", self.file, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Broken definitions: every problem found, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Definitions(Vec<Problem>),
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
}

/// Every form and dictionary of the node, checked.
pub struct Catalog {
    forms: BTreeMap<String, Form>,
    dicts: BTreeMap<String, Dict>,
    scripting: engine::Scripting,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Catalog").field("forms", &self.forms.keys()).field("dicts", &self.dicts.keys()).finish()
    }
}

impl Catalog {
    /// The definitions shipped in the binary.
    pub fn embedded() -> Result<Catalog, Error> {
        Catalog::from_files(EMBEDDED.iter().map(|(path, text)| (path.to_string(), text.to_string())).collect())
    }

    /// The definitions of a folder laid out as `definitions/` (`forms/<module>/*.toml`,
    /// `dicts/*.toml`): `shuangyong check --definitions DIR`, and a deployment that changes
    /// forms without a new binary.
    pub fn from_dir(dir: &std::path::Path) -> Result<Catalog, Error> {
        let mut files = Vec::new();
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|error| Error::Io(path.display().to_string(), error))
        };
        let listed = |path: &std::path::Path| -> Result<Vec<std::path::PathBuf>, Error> {
            if !path.exists() {
                return Ok(Vec::new());
            }
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|error| Error::Io(path.display().to_string(), error))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .collect();
            entries.sort();
            Ok(entries)
        };
        for path in listed(&dir.join("dicts"))? {
            if path.extension().is_some_and(|extension| extension == "toml") {
                let name = path.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
                files.push((format!("dicts/{name}"), read(&path)?));
            }
        }
        for module in listed(&dir.join("forms"))? {
            if !module.is_dir() {
                continue;
            }
            let module_name = module.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
            for path in listed(&module)? {
                if path.extension().is_some_and(|extension| extension == "toml") {
                    let name = path.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
                    files.push((format!("forms/{module_name}/{name}"), read(&path)?));
                }
            }
        }
        Catalog::from_files(files)
    }

    /// Reads definitions given as (path under `definitions/`, text): dictionaries first
    /// (`dicts/<key>.toml`), then forms (`forms/<module>/<file>.toml`). Every problem of every
    /// file is collected; one problem refuses the whole catalog.
    pub fn from_files(files: Vec<(String, String)>) -> Result<Catalog, Error> {
        let scripting = engine::Scripting::new();
        let mut problems = Vec::new();
        let mut dicts = BTreeMap::new();
        dicts.insert("district".to_string(), district_dict(&mut problems));
        for (path, text) in files.iter().filter(|(path, _)| path.starts_with("dicts/")) {
            let key = path.trim_start_matches("dicts/").trim_end_matches(".toml").to_string();
            if dicts.contains_key(&key) {
                problems.push(Problem {
                    file: path.clone(),
                    field: None,
                    message: format!("dictionary '{key}' exists already"),
                });
                continue;
            }
            if let Some(dict) = definition::read_dict(path, &key, text, &mut problems) {
                dicts.insert(key, dict);
            }
        }
        let known: HashSet<String> = dicts.keys().cloned().collect();
        let mut forms: BTreeMap<String, Form> = BTreeMap::new();
        for (path, text) in files.iter().filter(|(path, _)| path.starts_with("forms/")) {
            let module = path.split('/').nth(1).unwrap_or_default();
            if let Some(form) = definition::read_form(path, module, text, &known, &scripting, &mut problems) {
                if let Some(other) = forms.get(&form.key) {
                    problems.push(Problem {
                        file: path.clone(),
                        field: None,
                        message: format!("form key '{}' is used by {} too", form.key, other.file),
                    });
                    continue;
                }
                forms.insert(form.key.clone(), form);
            }
        }
        // A reference names a form of the catalog (known only once all are read).
        for form in forms.values() {
            for field in &form.fields {
                if let Some(target) = &field.target
                    && !forms.contains_key(target)
                {
                    problems.push(Problem {
                        file: form.file.clone(),
                        field: Some(field.key.clone()),
                        message: format!("form = '{target}': there is no such form"),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::Definitions(problems));
        }
        Ok(Catalog { forms, dicts, scripting })
    }

    /// No forms at all (a node whose definitions are broken, outside `serve`).
    pub fn empty() -> Catalog {
        Catalog { forms: BTreeMap::new(), dicts: BTreeMap::new(), scripting: engine::Scripting::new() }
    }

    pub fn form(&self, key: &str) -> Option<&Form> {
        self.forms.get(key)
    }

    pub fn forms(&self) -> impl Iterator<Item = &Form> {
        self.forms.values()
    }

    pub fn dict(&self, key: &str) -> Option<&Dict> {
        self.dicts.get(key)
    }

    pub(crate) fn scripting(&self) -> &engine::Scripting {
        &self.scripting
    }
}

fn district_dict(problems: &mut Vec<Problem>) -> Dict {
    #[derive(serde::Deserialize)]
    struct Units {
        districts: Vec<Unit>,
    }
    #[derive(serde::Deserialize)]
    struct Unit {
        id: String,
        name: String,
    }
    let items = match serde_json::from_str::<Units>(UNITS) {
        Ok(units) => units.districts.into_iter().map(|unit| (unit.id, unit.name)).collect(),
        Err(error) => {
            problems.push(Problem { file: "org/units.json".into(), field: None, message: error.to_string() });
            Vec::new()
        }
    };
    Dict { key: "district".into(), name: "区".into(), items }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(form: &str) -> Result<Catalog, Error> {
        Catalog::from_files(vec![
            ("dicts/colour.toml".into(), "name = \"颜色\"\nitems = [{ code = \"red\", label = \"红\" }]".into()),
            ("forms/test/thing.toml".into(), form.into()),
        ])
    }

    /// docs/forms.md: a field removed from a definition keeps its stored values through edits
    /// and imports, so adding it back finds them.
    #[test]
    fn values_of_a_removed_field_survive_an_edit() {
        let catalog = catalog(
            "key = \"thing\"\nname = \"东西\"\ntitle = \"label\"\n[[fields]]\nkey = \"label\"\nlabel = \"名称\"\ntype = \"text\"\n",
        )
        .expect("loads");
        let form = catalog.form("thing").expect("form");
        let previous: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"label": "旧", "colour": "red"}"#).expect("json");
        let mut values: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"label": "新"}"#).expect("json");
        records::keep_removed(form, &previous, &mut values);
        assert_eq!(serde_json::Value::Object(values), serde_json::json!({ "label": "新", "colour": "red" }));
    }

    #[test]
    fn an_import_match_must_be_a_unique_editable_field() {
        let error = catalog(
            "key = \"thing\"\nname = \"东西\"\ntitle = \"label\"\n[import]\nmatch = \"label\"\n[[fields]]\nkey = \"label\"\nlabel = \"名称\"\ntype = \"text\"\n",
        )
        .expect_err("refused");
        assert!(error.to_string().contains("[import] match must name a unique field"), "{error}");
    }

    #[test]
    fn the_shipped_definitions_load() {
        let catalog = Catalog::embedded().expect("the shipped definitions are valid");
        assert!(catalog.form("lawyer").is_some());
        assert_eq!(catalog.dict("district").map(|dict| dict.items.len()), Some(16));
    }

    #[test]
    fn a_broken_definition_names_the_file_the_field_and_the_problem() {
        let error = catalog(
            r#"
key = "thing"
name = "东西"
title = "label"
sort = "colour"
[[fields]]
key = "label"
label = "名称"
type = "text"
[[fields]]
key = "colour"
label = "颜色"
type = "select"
dict = "flavour"
[[fields]]
key = "size"
label = "大小"
type = "integre"
[[fields]]
key = "label"
label = "又一个"
type = "integer"
max_length = 3
"#,
        )
        .expect_err("refused");
        let Error::Definitions(problems) = error else { panic!("definition problems") };
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            shown.contains(
                &"forms/test/thing.toml: field 'colour': dictionary 'flavour' does not exist in definitions/dicts"
                    .to_string()
            ),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"forms/test/thing.toml: field 'size': unknown type 'integre'".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"forms/test/thing.toml: field 'label': the key is used twice".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|line| line.contains("field 'label'")
                && line.contains("min_length, max_length and pattern are for text fields")),
            "{shown:?}"
        );
        assert!(shown.iter().any(|line| line.contains("sort = 'colour'")), "{shown:?}");
        // A reference names a form that exists.
        let error = catalog("key = \"t\"\nname = \"t\"\ntitle = \"a\"\n[[fields]]\nkey = \"a\"\nlabel = \"a\"\ntype = \"text\"\n[[fields]]\nkey = \"r\"\nlabel = \"r\"\ntype = \"reference\"\nform = \"nowhere\"\n")
            .expect_err("refused");
        assert!(error.to_string().contains("field 'r': form = 'nowhere': there is no such form"), "{error}");
        // A typo in an attribute is an error too, not silently ignored.
        let error = catalog("key = \"t\"\nname = \"t\"\ntitle = \"a\"\n[[fields]]\nkey = \"a\"\nlabel = \"a\"\ntype = \"text\"\nrequird = true\n")
            .expect_err("refused");
        assert!(error.to_string().contains("requird"), "{error}");
    }

    #[test]
    fn values_are_normalised_and_checked() {
        use value::{format_decimal, parse_date, parse_datetime, parse_decimal};
        assert_eq!(parse_decimal("1,234.5", 2), Ok(123_450));
        assert_eq!(parse_decimal("￥０.０５", 2), Ok(5));
        assert_eq!(parse_decimal("-3", 2), Ok(-300));
        assert_eq!(parse_decimal("1.005", 2), Err("too-many-decimals"));
        assert_eq!(parse_decimal("1.2.3", 2), Err("not-decimal"));
        assert_eq!(parse_decimal("", 2), Err("not-decimal"));
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(parse_date("2026/2/3").map(|d| d.to_string()), Ok("2026-02-03".to_string()));
        assert_eq!(parse_date("2026-02-30"), Err("not-date"));
        assert_eq!(parse_datetime("2026-12-04 09:30:15"), Ok("2026-12-04T09:30".to_string()));

        let catalog = catalog(
            r#"
key = "thing"
name = "东西"
title = "label"
[[fields]]
key = "label"
label = "名称"
type = "text"
required = true
[[fields]]
key = "phone"
label = "电话"
type = "phone"
phone = "landline"
[[fields]]
key = "amount"
label = "金额"
type = "money"
min = 0
sort = true
"#,
        )
        .expect("valid");
        let form = catalog.form("thing").expect("form");
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
        let input = |json: serde_json::Value| json.as_object().cloned().expect("object");
        let ok = validate(
            form,
            &catalog,
            &input(serde_json::json!({ "label": "a", "phone": "(021) 6321-0000", "amount": "12" })),
            None,
            Mode::Strict,
            today,
        )
        .expect("valid");
        assert_eq!(ok["phone"], "02163210000");
        assert_eq!(ok["amount"], "12.00");
        let errors = validate(
            form,
            &catalog,
            &input(serde_json::json!({ "phone": "13800000000", "amount": "-1" })),
            None,
            Mode::Strict,
            today,
        )
        .expect_err("refused");
        let codes: Vec<(&str, &str)> = errors.iter().map(|error| (error.field.as_str(), error.code.as_str())).collect();
        assert_eq!(codes, [("phone", "not-phone"), ("amount", "too-small"), ("label", "required")]);
        // A date range and a time slot from an object or from the text people type.
        let composite = Catalog::from_files(vec![(
            "forms/test/thing.toml".into(),
            "key = \"thing\"\nname = \"东西\"\ntitle = \"label\"\n[[fields]]\nkey = \"label\"\nlabel = \"名称\"\ntype = \"text\"\n[[fields]]\nkey = \"period\"\nlabel = \"期间\"\ntype = \"daterange\"\n[[fields]]\nkey = \"slot\"\nlabel = \"时段\"\ntype = \"timeslot\"\nsort = true\n".into(),
        )])
        .expect("valid");
        let thing = composite.form("thing").expect("form");
        let read = |json: serde_json::Value| validate(thing, &composite, &input(json), None, Mode::Strict, today);
        let ok = read(serde_json::json!({ "label": "a", "period": "2026/12/1 至 2026年12月31日", "slot": "2026-12-04 ９:００-11:30" }))
            .expect("valid");
        assert_eq!(ok["period"], serde_json::json!({ "from": "2026-12-01", "to": "2026-12-31" }));
        assert_eq!(ok["slot"], serde_json::json!({ "date": "2026-12-04", "start": "09:00", "end": "11:30" }));
        assert_eq!(value::parse_time("9点"), Ok("09:00".to_string()));
        assert_eq!(value::parse_time("14点30分"), Ok("14:30".to_string()));
        let ok = read(serde_json::json!({ "label": "a", "period": { "from": "2026-12-01", "to": "2026-12-01" }, "slot": { "date": "", "start": "", "end": "" } }))
            .expect("one day is a range; an empty slot is no value");
        assert!(ok.get("slot").is_none());
        let codes = |json| -> Vec<(String, String)> {
            read(json).expect_err("refused").into_iter().map(|error| (error.field, error.code)).collect()
        };
        assert_eq!(
            codes(
                serde_json::json!({ "label": "a", "period": "2026-12-31~2026-12-01", "slot": "2026-12-04 11:00-09:00" })
            ),
            [("period".to_string(), "range-reversed".to_string()), ("slot".to_string(), "range-reversed".to_string())]
        );
        assert_eq!(
            codes(serde_json::json!({ "label": "a", "period": "明天", "slot": "2026-12-04 9点-25:00" })),
            [("period".to_string(), "not-date".to_string()), ("slot".to_string(), "not-time".to_string())]
        );
        let slot = thing.field("slot").expect("slot");
        // An address with its optional point.
        let located = Catalog::from_files(vec![(
            "forms/test/place.toml".into(),
            "key = \"place\"\nname = \"地点\"\ntitle = \"name\"\n[[fields]]\nkey = \"name\"\nlabel = \"名称\"\ntype = \"text\"\n[[fields]]\nkey = \"at\"\nlabel = \"地址\"\ntype = \"address\"\n".into(),
        )])
        .expect("valid");
        let place = located.form("place").expect("form");
        let read_place = |json: serde_json::Value| validate(place, &located, &input(json), None, Mode::Strict, today);
        let ok = read_place(serde_json::json!({ "name": "a", "at": { "address": " 延安东路300号 ", "lat": "31.2304", "lng": "１２１.４８６３５１" } }))
            .expect("valid");
        assert_eq!(
            ok["at"],
            serde_json::json!({ "address": "延安东路300号", "lat": "31.230400", "lng": "121.486351" })
        );
        let ok = read_place(serde_json::json!({ "name": "a", "at": "南京西路216号" })).expect("the address alone");
        assert_eq!(ok["at"], serde_json::json!({ "address": "南京西路216号" }));
        let refused = |json| -> Vec<String> {
            read_place(json).expect_err("refused").into_iter().map(|error| error.code).collect()
        };
        assert_eq!(
            refused(serde_json::json!({ "name": "a", "at": { "address": "x", "lat": "31.2", "lng": "" } })),
            ["not-point"]
        );
        assert_eq!(
            refused(serde_json::json!({ "name": "a", "at": { "address": "x", "lat": "95", "lng": "121" } })),
            ["not-point"]
        );
        let stored = serde_json::json!({ "address": "延安东路300号", "lat": "31.230400", "lng": "121.486351" });
        assert_eq!(
            value::display(place.field("at").expect("at"), &located, Some(&stored)),
            "延安东路300号（31.230400, 121.486351）"
        );
        assert!(value::search_text(place, &input(serde_json::json!({ "at": stored }))).contains("延安东路"));
        assert_eq!(value::display(slot, &composite, ok.get("slot")), "");
        let stored = serde_json::json!({ "date": "2026-12-04", "start": "09:00", "end": "11:30" });
        assert_eq!(value::display(slot, &composite, Some(&stored)), "2026-12-04 09:00–11:30");
        assert_eq!(value::key_text(slot, Some(&stored)), "2026-12-04T09:00", "sorts by its start");
        // Money sorts as money in its key column: 9.50 < 10.00 < 100.00, and below zero first.
        let field = form.field("amount").expect("field");
        let key = |text: &str| value::key_text(field, Some(&serde_json::Value::String(text.into())));
        assert!(key("-1.00") < key("9.50") && key("9.50") < key("10.00") && key("10.00") < key("100.00"));
    }
}
