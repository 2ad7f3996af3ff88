//! Values of a record: reading what a person or a client sent into the stored form of each
//! field type, the checks of a definition, and the derived texts the store indexes (key
//! columns, search text) and the screens show (labels, masks).
//!
//! A record is a JSON object, one member per filled field:
//! text-like types, dates, options → string; integer → number; decimal and money → string
//! with exactly `scale` digits after the point (exact, never a float); boolean → bool;
//! multi-select and check boxes → array of codes. An empty field has no member.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::definition::{Bound, Field, FieldKind, Form, PhoneKind};
use crate::{Catalog, ids};

/// One problem of a submission: the field (or `_form` for a rule that names none), a stable
/// code for clients and import workbooks, and the sentence the page shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    /// Whether the problem is at `field` or inside it (a sub-table's cell).
    pub fn is_at(&self, field: &str) -> bool {
        self.field == field || self.field.strip_prefix(field).is_some_and(|rest| rest.starts_with('.'))
    }

    fn new(field: &str, code: &str, message: impl Into<String>) -> FieldError {
        FieldError { field: field.to_string(), code: code.to_string(), message: message.into() }
    }
}

/// The largest absolute value of an exact number before scaling (10^15: more than any amount
/// of this system, far inside what the key columns encode).
const NUMBER_LIMIT: i128 = 1_000_000_000_000_000;

/// Full-width ASCII made half-width and the ideographic space a space: what comes out of
/// Chinese input methods and spreadsheets.
pub fn half_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

/// An exact decimal scaled by 10^scale: `12.5` at scale 2 is 1250. Accepts a sign, thousands
/// separators, full-width digits and a leading `¥`; refuses more digits after the point than
/// the scale (never rounds what a person typed).
pub fn parse_decimal(text: &str, scale: u32) -> Result<i128, &'static str> {
    let text = half_width(text).replace([',', ' '], "");
    let text = text.trim_start_matches(['¥', '￥']);
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err("not-decimal");
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > scale as usize {
        return Err("too-many-decimals");
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 16 {
        return Err("too-large");
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| "not-decimal")? };
    if whole >= NUMBER_LIMIT {
        return Err("too-large");
    }
    let mut scaled = whole * 10i128.pow(scale);
    if !fraction.is_empty() {
        let value: i128 = fraction.parse().map_err(|_| "not-decimal")?;
        scaled += value * 10i128.pow(scale - fraction.len() as u32);
    }
    Ok(if negative { -scaled } else { scaled })
}

/// The text of a scaled decimal: `1250` at scale 2 is `12.50`.
pub fn format_decimal(scaled: i128, scale: u32) -> String {
    let sign = if scaled < 0 { "-" } else { "" };
    let magnitude = scaled.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{magnitude}");
    }
    let factor = 10u128.pow(scale);
    format!("{sign}{}.{:0width$}", magnitude / factor, magnitude % factor, width = scale as usize)
}

/// A date as `YYYY-MM-DD` from that form, `YYYY/M/D`, `YYYY.M.D` or `YYYY年M月D日`.
pub fn parse_date(text: &str) -> Result<NaiveDate, &'static str> {
    let text = half_width(text.trim());
    let text = text.replace(['年', '月', '/', '.'], "-").replace('日', "");
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| "not-date")
}

/// A local date and time to the minute, `YYYY-MM-DDTHH:MM` (also with a space, or seconds).
pub fn parse_datetime(text: &str) -> Result<String, &'static str> {
    let text = half_width(text.trim()).replace(' ', "T");
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(parsed) = chrono::NaiveDateTime::parse_from_str(&text, format) {
            return Ok(parsed.format("%Y-%m-%dT%H:%M").to_string());
        }
    }
    Err("not-datetime")
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.trim().is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        // A date range or time slot with nothing in any part.
        Some(Value::Object(parts)) => {
            !parts.contains_key("id")
                && parts.values().all(|part| part.as_str().is_none_or(|text| text.trim().is_empty()))
        }
        _ => false,
    }
}

/// A time of day, `HH:MM` (also `9:30`, `09:30:00`, full-width digits, `9点30`).
pub fn parse_time(text: &str) -> Result<String, &'static str> {
    let mut text = half_width(text.trim()).replace(['点', '：'], ":").replace('分', "");
    // "9点" is nine o'clock.
    if text.ends_with(':') {
        text.push_str("00");
    }
    for format in ["%H:%M", "%H:%M:%S"] {
        if let Ok(time) = chrono::NaiveTime::parse_from_str(text.trim(), format) {
            return Ok(time.format("%H:%M").to_string());
        }
    }
    Err("not-time")
}

/// The parts of a composite value: its members from an object, or the pieces of a text
/// split at `~`, `至`, `到` (a date range), or a date, a space and two times split at `-`,
/// `~`, `至`, `到` (a time slot).
fn parts(value: &Value, names: &[&str]) -> Option<Vec<String>> {
    match value {
        Value::Object(object) => {
            Some(names.iter().map(|name| object.get(*name).and_then(text_of).unwrap_or_default()).collect())
        }
        Value::String(text) => {
            let text = half_width(text.trim());
            let pieces: Vec<String> = if names.len() == 2 {
                text.split(['~', '至', '到']).map(|piece| piece.trim().to_string()).collect()
            } else {
                // "2026-12-04 09:00-11:30"
                let (date, times) = text.split_once(' ')?;
                let (start, end) = times.trim().split_once(['-', '~', '至', '到'])?;
                vec![date.trim().to_string(), start.trim().to_string(), end.trim().to_string()]
            };
            (pieces.len() == names.len()).then_some(pieces)
        }
        _ => None,
    }
}

/// Reads one filled value into its stored form, or the code and message of what is wrong.
fn read(field: &Field, catalog: &Catalog, value: &Value, today: NaiveDate) -> Result<Value, (String, String)> {
    let fail = |code: &str, message: String| Err((code.to_string(), message));
    let kind = field.kind;
    if kind.is_list() {
        let items: Vec<String> = match value {
            Value::Array(items) => items.iter().filter_map(text_of).collect(),
            other => match text_of(other) {
                // "a,b" or "a、b" from a spreadsheet cell or a hand-typed list.
                Some(text) => text.split([',', '，', '、', ';', '；']).map(str::to_string).collect(),
                None => return fail("not-option", "请选择列出的选项".into()),
            },
        };
        let dict = field.dict.as_deref().and_then(|key| catalog.dict(key));
        let mut codes: Vec<String> = Vec::new();
        for item in items.iter().map(|item| item.trim()).filter(|item| !item.is_empty()) {
            let Some(code) = dict.and_then(|dict| dict.code_of(item)) else {
                return fail("not-option", format!("“{item}”不是可选的选项"));
            };
            if !codes.iter().any(|known| known == code) {
                codes.push(code.to_string());
            }
        }
        return Ok(Value::Array(codes.into_iter().map(Value::String).collect()));
    }
    if kind == FieldKind::Boolean {
        return match value {
            Value::Bool(flag) => Ok(Value::Bool(*flag)),
            other => match text_of(other).map(|text| half_width(text.trim()).to_lowercase()).as_deref() {
                Some("true" | "on" | "1" | "yes" | "是" | "y") => Ok(Value::Bool(true)),
                Some("false" | "off" | "0" | "no" | "否" | "n") => Ok(Value::Bool(false)),
                _ => fail("not-boolean", "请填写“是”或“否”".into()),
            },
        };
    }
    if kind.is_link() {
        // Only a reference `records::resolve_references` found (in the caller's scope) is one.
        return match value {
            Value::Object(object)
                if object.get("id").and_then(Value::as_str).is_some_and(|id| !id.trim().is_empty())
                    && object.get("title").is_some_and(Value::is_string) =>
            {
                Ok(Value::Object(object.clone()))
            }
            other => {
                let text = text_of(other).unwrap_or_default();
                match kind {
                    FieldKind::User => fail("not-user", format!("没有找到账号“{text}”，请从列表中选择")),
                    FieldKind::Unit => fail("not-unit", format!("没有找到单位“{text}”，请从列表中选择")),
                    _ => fail("not-reference", format!("没有找到“{text}”，请从列表中选择")),
                }
            }
        };
    }
    if kind.is_upload() {
        return read_files(field, value);
    }
    if kind == FieldKind::RichText {
        let Some(html) = text_of(value) else { return fail("not-text", "这里只能填写文字".into()) };
        let clean = sanitise_html(&html);
        let length = plain_text(&clean).chars().count();
        if length == 0 {
            // Only tags: nothing written.
            return Ok(Value::String(String::new()));
        }
        let limit = field.max_length.unwrap_or(RICH_TEXT_LIMIT);
        if length > limit {
            return fail("too-long", format!("最多填写 {limit} 个字，现在是 {length} 个"));
        }
        if let Some(min) = field.min_length
            && length < min
        {
            return fail("too-short", format!("至少填写 {min} 个字"));
        }
        return Ok(Value::String(clean));
    }
    if kind == FieldKind::Table {
        return fail("not-table", "请逐行填写表格".into());
    }
    if kind == FieldKind::Address {
        let pieces = match value {
            Value::Object(_) => parts(value, &["address", "lat", "lng"]),
            other => text_of(other).map(|text| vec![text, String::new(), String::new()]),
        };
        let Some(pieces) = pieces else { return fail("not-text", "请填写地址".into()) };
        let address = pieces[0].trim().replace(['\r', '\n'], " ");
        if address.is_empty() {
            return fail("required", "请填写地址".into());
        }
        if address.chars().count() > field.max_length.unwrap_or(200) {
            return fail("too-long", format!("地址最多 {} 个字", field.max_length.unwrap_or(200)));
        }
        let coordinate = |text: &str, limit: i128| -> Result<Option<String>, (String, String)> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            match parse_decimal(text, 6) {
                Ok(scaled) if scaled.abs() <= limit * 1_000_000 => Ok(Some(format_decimal(scaled, 6))),
                _ => Err(("not-point".into(), "经纬度无效：纬度在 -90 至 90 之间，经度在 -180 至 180 之间".into())),
            }
        };
        let (lat, lng) = (coordinate(&pieces[1], 90)?, coordinate(&pieces[2], 180)?);
        if lat.is_some() != lng.is_some() {
            return fail("not-point", "请同时填写纬度和经度，或都不填".into());
        }
        let mut object = Map::new();
        object.insert("address".into(), Value::String(address));
        if let (Some(lat), Some(lng)) = (lat, lng) {
            object.insert("lat".into(), Value::String(lat));
            object.insert("lng".into(), Value::String(lng));
        }
        return Ok(Value::Object(object));
    }
    if kind == FieldKind::DateRange {
        let Some(pieces) = parts(value, &["from", "to"]) else {
            return fail("not-date", "请填写开始和结束日期，例如 2026-12-01 至 2026-12-31".into());
        };
        let date = |text: &str| parse_date(text).map_err(|code| (code.to_string(), "请填写开始和结束日期".to_string()));
        let (from, to) = (date(&pieces[0])?, date(&pieces[1])?);
        if to < from {
            return fail("range-reversed", "结束日期不能早于开始日期".into());
        }
        return Ok(
            serde_json::json!({ "from": from.format("%Y-%m-%d").to_string(), "to": to.format("%Y-%m-%d").to_string() }),
        );
    }
    if kind == FieldKind::TimeSlot {
        let Some(pieces) = parts(value, &["date", "start", "end"]) else {
            return fail("not-time", "请填写日期和起止时间，例如 2026-12-04 09:00-11:30".into());
        };
        let date = parse_date(&pieces[0]).map_err(|code| (code.to_string(), "请填写日期".to_string()))?;
        let time =
            |text: &str| parse_time(text).map_err(|code| (code.to_string(), "请填写时间，例如 09:30".to_string()));
        let (start, end) = (time(&pieces[1])?, time(&pieces[2])?);
        if end <= start {
            return fail("range-reversed", "结束时间须晚于开始时间".into());
        }
        return Ok(serde_json::json!({ "date": date.format("%Y-%m-%d").to_string(), "start": start, "end": end }));
    }
    let Some(raw) = text_of(value) else {
        return fail("not-text", "这里只能填写一个值".into());
    };
    let text = raw.trim();
    let length = |text: &str| text.chars().count();
    let checked_text = |text: String| -> Result<Value, (String, String)> {
        if let Some(min) = field.min_length
            && length(&text) < min
        {
            return Err(("too-short".into(), format!("至少填写 {min} 个字")));
        }
        if let Some(max) = field.max_length
            && length(&text) > max
        {
            return Err(("too-long".into(), format!("最多填写 {max} 个字，现在是 {} 个", length(&text))));
        }
        if let Some(pattern) = &field.pattern
            && !pattern.is_match(&text)
        {
            let message = field.pattern_message.clone().unwrap_or_else(|| "格式不正确".into());
            return Err(("pattern".into(), message));
        }
        Ok(Value::String(text))
    };
    match kind {
        FieldKind::Text | FieldKind::Textarea => {
            // A single-line text keeps no line breaks; a textarea keeps them as typed.
            let text =
                if kind == FieldKind::Text { text.replace(['\r', '\n'], " ") } else { text.replace("\r\n", "\n") };
            if text.contains(|c: char| c.is_control() && c != '\n' && c != '\t') {
                return fail("control-character", "含有不可见的控制字符".into());
            }
            checked_text(text)
        }
        FieldKind::Integer => {
            let text = half_width(text).replace([',', ' '], "");
            let number: i64 = text.parse().map_err(|_| ("not-integer".to_string(), "请填写整数".to_string()))?;
            check_bounds(field, &Bound::Number(i128::from(number)), &number.to_string())?;
            Ok(Value::from(number))
        }
        FieldKind::Decimal | FieldKind::Money => {
            let scaled = parse_decimal(text, field.scale).map_err(|code| {
                let message = match code {
                    "too-many-decimals" => format!("小数点后最多 {} 位", field.scale),
                    "too-large" => "数值过大".to_string(),
                    _ if kind == FieldKind::Money => "请填写金额，例如 128.50".to_string(),
                    _ => "请填写数字".to_string(),
                };
                (code.to_string(), message)
            })?;
            let formatted = format_decimal(scaled, field.scale);
            check_bounds(field, &Bound::Number(scaled), &formatted)?;
            Ok(Value::String(formatted))
        }
        FieldKind::Date => {
            let date =
                parse_date(text).map_err(|code| (code.to_string(), "请填写日期，例如 2026-12-04".to_string()))?;
            let formatted = date.format("%Y-%m-%d").to_string();
            check_bounds(field, &Bound::Date(date), &formatted)?;
            Ok(Value::String(formatted))
        }
        FieldKind::Datetime => {
            let formatted = parse_datetime(text)
                .map_err(|code| (code.to_string(), "请填写日期和时间，例如 2026-12-04 09:30".to_string()))?;
            check_bounds(field, &Bound::Datetime(formatted.clone()), &formatted)?;
            Ok(Value::String(formatted))
        }
        // Answered above; a bare text never reaches here as a reference.
        FieldKind::Reference | FieldKind::User | FieldKind::Unit => {
            fail("not-reference", format!("没有找到“{text}”，请从列表中选择"))
        }
        FieldKind::DateRange | FieldKind::TimeSlot => fail("not-date", "请填写日期".into()),
        FieldKind::Address => fail("not-text", "请填写地址".into()),
        FieldKind::Select | FieldKind::Radio | FieldKind::District => {
            let dict = field.dict.as_deref().and_then(|key| catalog.dict(key));
            match dict.and_then(|dict| dict.code_of(text)) {
                Some(code) => Ok(Value::String(code.to_string())),
                None => fail("not-option", format!("“{text}”不是可选的选项")),
            }
        }
        FieldKind::Phone => {
            let digits: String = half_width(text).chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
            let digits = digits.strip_prefix("+86").unwrap_or(&digits).to_string();
            let mobile = digits.len() == 11 && digits.starts_with('1') && digits.chars().all(|c| c.is_ascii_digit());
            // 区号 (3–4 digits from 0) and a 7–8 digit number, optionally an extension.
            let landline = {
                let (main, extension) = match digits.split_once(['#', '转']) {
                    Some((main, extension)) => (main, Some(extension)),
                    None => (digits.as_str(), None),
                };
                main.starts_with('0')
                    && (10..=12).contains(&main.len())
                    && main.chars().all(|c| c.is_ascii_digit())
                    && extension.is_none_or(|e| (1..=6).contains(&e.len()) && e.chars().all(|c| c.is_ascii_digit()))
                    || (7..=8).contains(&main.len())
                        && !main.starts_with(['0', '1'])
                        && main.chars().all(|c| c.is_ascii_digit())
            };
            let ok = match field.phone {
                PhoneKind::Mobile => mobile,
                PhoneKind::Landline => landline,
                PhoneKind::Any => mobile || landline,
            };
            if !ok {
                let message = match field.phone {
                    PhoneKind::Mobile => "请填写 11 位手机号码",
                    PhoneKind::Landline => "请填写固定电话，例如 021-63210000",
                    PhoneKind::Any => "请填写手机号码或固定电话（如 021-63210000）",
                };
                return fail("not-phone", message.into());
            }
            checked_text(digits)
        }
        FieldKind::IdCard => match ids::citizen_id(text, today) {
            Ok(id) => checked_text(id.number),
            Err(error) => fail(error.code(), error.message().into()),
        },
        FieldKind::Uscc => match ids::uscc(text) {
            Ok(code) => checked_text(code),
            Err(error) => fail(error.code(), error.message().into()),
        },
        FieldKind::Email => {
            let text = half_width(text);
            let ok = text.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !text.contains(char::is_whitespace)
                    && text.matches('@').count() == 1
            });
            if !ok {
                return fail("not-email", "请填写有效的电子邮箱，例如 name@example.cn".into());
            }
            checked_text(text)
        }
        FieldKind::Url => {
            let text = half_width(text);
            let ok = ["http://", "https://"].iter().any(|scheme| {
                text.strip_prefix(scheme).is_some_and(|rest| {
                    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                    !host.is_empty() && host.contains('.') && !rest.contains(char::is_whitespace)
                })
            });
            if !ok {
                return fail("not-url", "请填写以 http:// 或 https:// 开头的网址".into());
            }
            checked_text(text)
        }
        FieldKind::Boolean
        | FieldKind::Multiselect
        | FieldKind::Checkbox
        | FieldKind::File
        | FieldKind::Image
        | FieldKind::RichText
        | FieldKind::Table => unreachable_kind(),
    }
}

/// The most characters of text a rich-text field holds when its definition sets no
/// `max_length`.
const RICH_TEXT_LIMIT: usize = 20_000;

/// Formatted text as the system keeps it: paragraphs, headings, emphasis, lists, quotes, and
/// links to web pages (opened without handing the page a reference back), nothing else —
/// scripts, styles, event handlers, frames and `javascript:` links are dropped, whatever
/// the client sent.
pub fn sanitise_html(html: &str) -> String {
    use std::collections::HashSet;
    let tags: HashSet<&str> =
        ["p", "br", "b", "strong", "i", "em", "u", "s", "ul", "ol", "li", "h2", "h3", "h4", "blockquote", "a"]
            .into_iter()
            .collect();
    ammonia::Builder::default()
        .tags(tags)
        .clean_content_tags(["script", "style"].into_iter().collect())
        .generic_attributes(HashSet::new())
        .tag_attributes([("a", ["href"].into_iter().collect())].into_iter().collect())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
        .trim()
        .to_string()
}

/// The words of formatted text, without its tags (what a search, a list and an export read).
pub fn plain_text(html: &str) -> String {
    // The end of a block is a space between its words and the next block's.
    let spaced = ["</p>", "</h2>", "</h3>", "</h4>", "</li>", "</blockquote>", "<br>"]
        .iter()
        .fold(html.to_string(), |text, tag| text.replace(tag, &format!("{tag} ")));
    let text = ammonia::Builder::empty().clean(&spaced).to_string();
    let text = text
        .replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The files of an upload field as [`crate::records::resolve_references`] found them (each
/// the caller's own upload, or one the record already holds): their count, types and sizes
/// held to the definition.
fn read_files(field: &Field, value: &Value) -> Result<Value, (String, String)> {
    let unusable = || ("not-file".to_string(), "文件不存在或已失效，请重新上传".to_string());
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    if items.len() > field.max_files {
        return Err(("too-many-files".into(), format!("最多上传 {} 个文件", field.max_files)));
    }
    let mut files = Vec::new();
    for item in items {
        let object = item.as_object().ok_or_else(unusable)?;
        let text = |name: &str| object.get(name).and_then(Value::as_str).filter(|text| !text.is_empty());
        let (Some(id), Some(name), Some(content_type), Some(size)) =
            (text("id"), text("name"), text("contentType"), object.get("size").and_then(Value::as_u64))
        else {
            return Err(unusable());
        };
        let extension = crate::uploads::extension(name);
        let image = field.kind == FieldKind::Image;
        if !field.accept.contains(&extension) || (image && !content_type.starts_with("image/")) {
            let kinds = field.accept.join("、");
            let message =
                if image { "请上传 png 或 jpg 图片".to_string() } else { format!("请上传 {kinds} 文件") };
            return Err(("file-type".into(), format!("“{name}”类型不符：{message}")));
        }
        if size as usize > field.max_bytes {
            return Err(("file-too-large".into(), format!("“{name}”超过 {} MB", field.max_bytes / 1024 / 1024)));
        }
        files.push(serde_json::json!({ "id": id, "name": name, "contentType": content_type, "size": size }));
    }
    Ok(Value::Array(files))
}

/// The rows of a sub-table, each cell read as its column reads a value: rows with nothing in
/// them dropped, every problem named by its place (`<table>.<row>.<column>`, rows from 0) and
/// its message by row number and column label.
fn read_table(field: &Field, catalog: &Catalog, value: &Value, today: NaiveDate) -> Result<Value, Vec<FieldError>> {
    let Value::Array(items) = value else {
        return Err(vec![FieldError::new(&field.key, "not-table", "请逐行填写表格")]);
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        let Value::Object(cells) = item else {
            errors.push(FieldError::new(&field.key, "not-table", "请逐行填写表格"));
            continue;
        };
        if field.columns.iter().all(|column| blank_cell(column, cells.get(&column.key))) {
            continue;
        }
        let index = rows.len();
        let mut row = Map::new();
        for column in &field.columns {
            let at = format!("{}.{index}.{}", field.key, column.key);
            let place = format!("第 {} 行“{}”", index + 1, column.label);
            let cell = cells.get(&column.key).filter(|cell| !blank_cell(column, Some(cell)));
            let Some(cell) = cell else {
                if column.required {
                    errors.push(FieldError::new(&at, "required", format!("{place}：请填写{}", column.label)));
                }
                continue;
            };
            match read(column, catalog, cell, today) {
                Ok(Value::Array(list)) if list.is_empty() => {}
                Ok(value) => {
                    row.insert(column.key.clone(), value);
                }
                Err((code, message)) => errors.push(FieldError::new(&at, &code, format!("{place}：{message}"))),
            }
        }
        rows.push(Value::Object(row));
    }
    let (min, max) = field.rows;
    if rows.len() > max {
        errors.push(FieldError::new(&field.key, "too-many-rows", format!("最多 {max} 行，现在是 {} 行", rows.len())));
    }
    if rows.len() < min && !rows.is_empty() {
        errors.push(FieldError::new(&field.key, "too-few-rows", format!("至少填写 {min} 行")));
    }
    if errors.is_empty() { Ok(Value::Array(rows)) } else { Err(errors) }
}

/// Whether a sub-table cell holds nothing: empty, or a box left unticked (a row's check box
/// is 否 until ticked, so an unticked box is not kept and does not make a blank row count).
fn blank_cell(column: &Field, cell: Option<&Value>) -> bool {
    match cell {
        Some(Value::Bool(false)) => true,
        Some(Value::String(text)) if column.kind == FieldKind::Boolean => {
            matches!(half_width(text.trim()).to_lowercase().as_str(), "" | "false" | "off" | "0" | "no" | "否" | "n")
        }
        other => is_empty(other),
    }
}

/// Booleans and lists are read before the text types; this arm is never taken.
fn unreachable_kind() -> Result<Value, (String, String)> {
    Err(("not-text".into(), "无法识别的值".into()))
}

fn check_bounds(field: &Field, value: &Bound, shown: &str) -> Result<(), (String, String)> {
    let below = |bound: &Bound| match (value, bound) {
        (Bound::Number(value), Bound::Number(bound)) => value < bound,
        (Bound::Date(value), Bound::Date(bound)) => value < bound,
        (Bound::Datetime(value), Bound::Datetime(bound)) => value < bound,
        _ => false,
    };
    let above = |bound: &Bound| match (value, bound) {
        (Bound::Number(value), Bound::Number(bound)) => value > bound,
        (Bound::Date(value), Bound::Date(bound)) => value > bound,
        (Bound::Datetime(value), Bound::Datetime(bound)) => value > bound,
        _ => false,
    };
    if let Some(min) = &field.min
        && below(min)
    {
        return Err(("too-small".into(), format!("不能小于 {}（填写的是 {shown}）", bound_text(field, min))));
    }
    if let Some(max) = &field.max
        && above(max)
    {
        return Err(("too-large".into(), format!("不能大于 {}（填写的是 {shown}）", bound_text(field, max))));
    }
    Ok(())
}

fn bound_text(field: &Field, bound: &Bound) -> String {
    match bound {
        Bound::Number(number) => format_decimal(*number, field.scale),
        Bound::Date(date) => date.format("%Y-%m-%d").to_string(),
        Bound::Datetime(text) => text.replace('T', " "),
    }
}

/// A record's values as script variables (for `visible_when`, `required_when` and rules):
/// every field of the form, `()` when empty; decimals as numbers.
pub(crate) fn variables(form: &Form, values: &Map<String, Value>) -> engine::Variables {
    form.fields
        .iter()
        .map(|field| {
            let value = match (values.get(&field.key), field.kind) {
                (None, _) => engine::Value::Null,
                (Some(Value::String(text)), FieldKind::Decimal | FieldKind::Money) => {
                    text.parse::<f64>().map(engine::Value::Double).unwrap_or(engine::Value::Null)
                }
                (Some(value), _) => engine::Value::from_json(value),
            };
            (field.key.clone(), value)
        })
        .collect()
}

/// Whether a condition holds; one that cannot be evaluated (a value it compares is empty)
/// does not hold.
fn holds(catalog: &Catalog, expression: &engine::script::Expression, variables: &engine::Variables) -> bool {
    catalog.scripting().eval_condition(expression, variables).unwrap_or(false)
}

/// What a submission may change: every field (a create, an update through the admin screens
/// and the API), or only those a task lets the person edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An unknown member is an error (`unknown-field`): a typo in a client must not vanish.
    Strict,
    /// Unknown members are ignored (a browser form posts its own fields too).
    Lenient,
}

/// One value of `field` in its stored form (an import reads its match key with this before
/// it knows which record a row updates).
pub fn normalise(field: &Field, catalog: &Catalog, value: &Value, today: NaiveDate) -> Result<Value, FieldError> {
    read(field, catalog, value, today).map_err(|(code, message)| FieldError::new(&field.key, &code, message))
}

/// Checks a submission against its form and returns the record's new values. `previous` are
/// the stored values of an update: a field the submission leaves out keeps its value (so a
/// client that does not know a new field does not clear it). Every problem is returned, not
/// only the first.
pub fn validate(
    form: &Form,
    catalog: &Catalog,
    input: &Map<String, Value>,
    previous: Option<&Map<String, Value>>,
    mode: Mode,
    today: NaiveDate,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if mode == Mode::Strict {
        for key in input.keys() {
            if form.field(key).is_none() {
                errors.push(FieldError::new(key, "unknown-field", format!("表单“{}”没有字段 {key}", form.name)));
            }
        }
    }
    let mut values = Map::new();
    for field in &form.fields {
        let given = match input.get(&field.key) {
            Some(value) => Some(value),
            None => previous.and_then(|previous| previous.get(&field.key)),
        };
        if is_empty(given) {
            continue;
        }
        let Some(given) = given else { continue };
        if field.kind == FieldKind::Table {
            match read_table(field, catalog, given, today) {
                Ok(Value::Array(rows)) if rows.is_empty() => {}
                Ok(rows) => {
                    values.insert(field.key.clone(), rows);
                }
                Err(mut problems) => errors.append(&mut problems),
            }
            continue;
        }
        match read(field, catalog, given, today) {
            Ok(Value::Array(items)) if items.is_empty() => {}
            // Formatted text that was only tags.
            Ok(Value::String(text)) if text.is_empty() => {}
            Ok(value) => {
                values.insert(field.key.clone(), value);
            }
            Err((code, message)) => errors.push(FieldError::new(&field.key, &code, message)),
        }
    }
    let scope = variables(form, &values);
    for field in &form.fields {
        if let Some(visible) = &field.visible_when
            && !holds(catalog, visible, &scope)
        {
            // Not asked for: not kept, not required.
            values.remove(&field.key);
            errors.retain(|error| !error.is_at(&field.key));
            continue;
        }
        let required = field.required || field.required_when.as_ref().is_some_and(|when| holds(catalog, when, &scope));
        if required && !values.contains_key(&field.key) && !errors.iter().any(|error| error.is_at(&field.key)) {
            errors.push(FieldError::new(&field.key, "required", format!("请填写{}", field.label)));
        }
    }
    if errors.is_empty() {
        let scope = variables(form, &values);
        for rule in &form.rules {
            if rule.mentions.iter().any(|field| !values.contains_key(field)) {
                continue;
            }
            let evaluated = catalog.scripting().eval_condition(&rule.check, &scope);
            // A rule over an empty value does not apply (`required` says what must be filled).
            if evaluated == Ok(false) {
                let fields: Vec<&str> = if rule.fields.is_empty() {
                    vec!["_form"]
                } else {
                    rule.fields.iter().map(String::as_str).collect()
                };
                for field in fields {
                    errors.push(FieldError::new(field, &rule.code, rule.message.clone()));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Members of fields the definition no longer has are kept as they were (see
    // `docs/forms.md`: removing a field hides its values, it does not destroy them).
    if let Some(previous) = previous {
        for (key, value) in previous {
            if form.field(key).is_none() {
                values.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(values)
}

/// The 20-digit, order-preserving text of a scaled number (|n| < 10^19): key columns are
/// text, so numbers sort and compare correctly as text.
fn number_key(scaled: i128) -> String {
    format!("{:020}", scaled + 10i128.pow(19))
}

/// The text of a value in a field's key column (`k1` …): sorts and compares as the values
/// do. Lists are `|a|b|` (a filter looks for `|a|`); an empty value is "".
pub fn key_text(field: &Field, value: Option<&Value>) -> String {
    let Some(value) = value else { return String::new() };
    match (field.kind, value) {
        (FieldKind::Integer, Value::Number(number)) => {
            number.as_i64().map(|n| number_key(i128::from(n))).unwrap_or_default()
        }
        (FieldKind::Decimal | FieldKind::Money, Value::String(text)) => {
            parse_decimal(text, field.scale).map(number_key).unwrap_or_default()
        }
        (FieldKind::Boolean, Value::Bool(flag)) => if *flag { "1" } else { "0" }.to_string(),
        // Ordered by when they begin.
        (FieldKind::Address, Value::Object(address)) => {
            address.get("address").and_then(Value::as_str).unwrap_or("").to_lowercase()
        }
        (FieldKind::DateRange, Value::Object(range)) => {
            range.get("from").and_then(Value::as_str).unwrap_or("").to_string()
        }
        (FieldKind::TimeSlot, Value::Object(slot)) => {
            let part = |name: &str| slot.get(name).and_then(Value::as_str).unwrap_or("");
            format!("{}T{}", part("date"), part("start"))
        }
        (_, Value::Array(items)) => {
            let codes: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            if codes.is_empty() { String::new() } else { format!("|{}|", codes.join("|")) }
        }
        (kind, Value::String(text)) if kind.is_text() => text.to_lowercase(),
        (_, Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}

/// A filter value (from a list's search form) in key-column terms, for range bounds of
/// ordered fields; `None` when it is not a value of the field.
pub fn key_of_input(field: &Field, text: &str) -> Option<String> {
    let text = text.trim();
    match field.kind {
        FieldKind::Integer => half_width(text).parse::<i64>().ok().map(|n| number_key(i128::from(n))),
        FieldKind::Decimal | FieldKind::Money => parse_decimal(text, field.scale).ok().map(number_key),
        FieldKind::Date => parse_date(text).ok().map(|date| date.format("%Y-%m-%d").to_string()),
        FieldKind::Datetime => parse_datetime(text).ok(),
        _ => Some(text.to_string()),
    }
}

/// The lower-case text a keyword search looks in: the record's text fields.
pub fn search_text(form: &Form, values: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    // A sensitive value is never searchable in clear (it is found by its blind index, if unique).
    for field in form.fields.iter().filter(|field| field.kind.is_text() && !field.sensitive) {
        if let Some(Value::String(text)) = values.get(&field.key) {
            parts.push(text.to_lowercase());
        }
    }
    for field in form.fields.iter().filter(|field| field.kind == FieldKind::RichText) {
        if let Some(Value::String(html)) = values.get(&field.key) {
            parts.push(plain_text(html).to_lowercase());
        }
    }
    // An address is found by its words too.
    for field in form.fields.iter().filter(|field| field.kind == FieldKind::Address) {
        if let Some(text) = values.get(&field.key).and_then(|value| value.get("address")).and_then(Value::as_str) {
            parts.push(text.to_lowercase());
        }
    }
    parts.join(" ")
}

/// How a value reads on a screen or in an export: labels for codes, 是 / 否, lists joined by
/// 、, a datetime with a space.
pub fn display(field: &Field, catalog: &Catalog, value: Option<&Value>) -> String {
    let Some(value) = value else { return String::new() };
    let label = |code: &str| -> String {
        field
            .dict
            .as_deref()
            .and_then(|key| catalog.dict(key))
            .and_then(|dict| dict.label(code))
            .unwrap_or(code)
            .to_string()
    };
    match value {
        Value::Object(object) if field.kind.is_link() => {
            object.get("title").or_else(|| object.get("id")).and_then(Value::as_str).unwrap_or_default().to_string()
        }
        Value::Object(object) if field.kind == FieldKind::Address => {
            let part = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
            match (part("lat"), part("lng")) {
                ("", _) | (_, "") => part("address").to_string(),
                (lat, lng) => format!("{}（{lat}, {lng}）", part("address")),
            }
        }
        Value::Object(object) if matches!(field.kind, FieldKind::DateRange | FieldKind::TimeSlot) => {
            let part = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
            if field.kind == FieldKind::DateRange {
                format!("{} 至 {}", part("from"), part("to"))
            } else {
                format!("{} {}–{}", part("date"), part("start"), part("end"))
            }
        }
        Value::Array(files) if field.kind.is_upload() => {
            files.iter().filter_map(|file| file.get("name").and_then(Value::as_str)).collect::<Vec<_>>().join("、")
        }
        Value::Array(rows) if field.kind == FieldKind::Table => rows
            .iter()
            .map(|row| {
                field
                    .columns
                    .iter()
                    .filter_map(|column| {
                        let text = cell_display(column, catalog, row.get(&column.key));
                        (!text.is_empty()).then(|| format!("{}：{text}", column.label))
                    })
                    .collect::<Vec<_>>()
                    .join("，")
            })
            .collect::<Vec<_>>()
            .join("；"),
        Value::String(html) if field.kind == FieldKind::RichText => plain_text(html),
        Value::Bool(true) => "是".into(),
        Value::Bool(false) => "否".into(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(label).collect::<Vec<_>>().join("、"),
        Value::String(text) if field.kind.has_options() => label(text),
        Value::String(text) if field.kind == FieldKind::Datetime => text.replace('T', " "),
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => other.to_string(),
    }
}

/// How a sub-table cell reads: as its column's values do, an unticked box 否.
pub fn cell_display(column: &Field, catalog: &Catalog, value: Option<&Value>) -> String {
    match value {
        None if column.kind == FieldKind::Boolean => "否".into(),
        value => display(column, catalog, value),
    }
}

/// The fields whose values differ between two versions of a record: (field, old, new).
pub fn changes(
    form: &Form,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Vec<(String, Option<Value>, Option<Value>)> {
    let mut changed = Vec::new();
    for field in &form.fields {
        let (before, after) = (old.get(&field.key), new.get(&field.key));
        if before != after {
            changed.push((field.key.clone(), before.cloned(), after.cloned()));
        }
    }
    // Members of fields the definition no longer has stay in the document untouched; they
    // are not compared.
    changed
}

/// A sensitive value as people without `pii:unmask` see it (screens, exports, task forms).
pub fn masked(field: &Field, text: &str) -> String {
    match field.kind {
        FieldKind::IdCard => crypto::mask::mask_id_number(text),
        FieldKind::Phone => crypto::mask::mask_phone(text),
        _ => crypto::mask::mask(text, 1, 1),
    }
}
