//! `sy-institution-activate` (PREF-03 / PREF-15, issue 14): what the city's approval of an
//! institution's 入驻审核 (`institution-onboarding`) does. The institution's record becomes
//! 已入驻 (with its 入驻日期, today unless the reviewer set one), the institution gets its account
//! — the applicant's own when they applied from the light app (its role `provider-applicant`
//! becomes `provider`), else a new one named after its 统一社会信用代码 that signs in by SMS code
//! on the contact phone — and its merchant QR code (signed with the node's SM2 key), and it is
//! told so in its message centre and by SMS.
//!
//! Every effect is once: the account by its id, the record by what it already holds (a second
//! run finds the account, the code and the state set and changes nothing), the messages by
//! their task keys.

use engine::{Value, Variables};
use serde_json::{Map, Value as Json, json};

use crate::domain::{DomainHandler, Failure, NewPerson, Note, PortError, Ports, Task};

pub const TOPIC: &str = "sy-institution-activate";
/// The form whose records are the institutions.
pub const FORM: &str = "provider-institution";
/// The city's unit, for an institution without a district.
const CITY_UNIT: &str = "310000";
/// How often a record changed by someone else meanwhile is read again.
const SAVE_ATTEMPTS: usize = 3;
/// The prefix and version of a merchant code's payload.
pub const MERCHANT_CODE_PREFIX: &str = "SYM1";

pub struct Activate;

fn text<'a>(values: &'a Map<String, Json>, key: &str) -> &'a str {
    values.get(key).and_then(Json::as_str).map(str::trim).unwrap_or_default()
}

/// The merchant code of institution `record`: `SYM1.<record id>.<key id>.<signature>`, the SM2
/// signature (base64url) over everything before it. Checked by [`verify_merchant_code`].
pub fn merchant_code(crypto: &dyn crypto::CryptoProvider, record: &str) -> Result<String, Failure> {
    use base64::Engine;
    let payload = format!("{MERCHANT_CODE_PREFIX}.{record}.{}", signing_key(crypto));
    let signature = crypto
        .sign(payload.as_bytes())
        .map_err(|error| Failure::transient("crypto", format!("签名失败 (signing failed): {error}")))?;
    Ok(format!("{payload}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)))
}

/// Which SM2 key signed a code: the first 8 hex digits of the SM3 digest of its public key (a
/// verifier with several keys — after a rollover — knows which to use).
fn signing_key(crypto: &dyn crypto::CryptoProvider) -> String {
    crypto::sm3_hex(crypto.public_key_hex().as_bytes())[..8].to_string()
}

/// The institution a merchant code names, if its signature is this node's. Whether the
/// institution is still in (已入驻) is the verifier's to check against the record.
pub fn verify_merchant_code(crypto: &dyn crypto::CryptoProvider, code: &str) -> Option<String> {
    use base64::Engine;
    let (payload, signature) = code.rsplit_once('.')?;
    let mut parts = payload.split('.');
    let (prefix, record, _key) = (parts.next()?, parts.next()?, parts.next()?);
    if prefix != MERCHANT_CODE_PREFIX || parts.next().is_some() {
        return None;
    }
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).ok()?;
    crypto.verify(payload.as_bytes(), &signature).then(|| record.to_string())
}

/// An account an approval may make the institution's: an active applicant's, nothing more.
fn is_applicant(person: &crate::domain::Person) -> bool {
    person.kind == "provider" && person.status == "active" && person.roles == ["provider-applicant"]
}

/// Today in Shanghai, `YYYY-MM-DD`.
fn today() -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is valid"));
    chrono::Utc::now().with_timezone(&shanghai).format("%Y-%m-%d").to_string()
}

#[async_trait::async_trait]
impl DomainHandler for Activate {
    fn topic(&self) -> &'static str {
        TOPIC
    }

    async fn handle(&self, task: &Task, ports: &Ports) -> Result<Variables, Failure> {
        let form = task.text("recordForm")?;
        if form != FORM {
            return Err(Failure::permanent("invalid-input", format!("recordForm 须为 {FORM} (not an institution)")));
        }
        let id = task.text("recordId")?;
        let mut attempt = 0;
        let account = loop {
            attempt += 1;
            let record = ports
                .records
                .record(FORM, id)
                .await?
                .ok_or_else(|| Failure::permanent("record-missing", format!("机构记录 {id} 不存在或已删除")))?;
            let values = &record.values;
            let name = text(values, "name").to_string();
            let held = values.get("account").and_then(|account| account.get("id")).and_then(Json::as_str);
            if held.is_none() && text(values, "status") != "applying" {
                // Only an application goes in: a record already in (or paused, or gone) that was
                // submitted again is not activated behind its status's back.
                return Err(Failure::permanent(
                    "invalid-state",
                    format!("机构“{name}”的入驻状态不是申请中，不能开通 (the institution is not applying)"),
                ));
            }
            // Whose application it is comes from the record (who made it), never from a process
            // variable a client could have set.
            let applicant = ports.directory.person(&record.created_by).await?;
            let account = match (held, &applicant) {
                (Some(held), _) => held.to_string(),
                // Applied from the light app: the applicant's own account becomes the
                // institution's — only an active applicant's account, never one that already
                // belongs to an institution (a second branch gets an account of its own).
                (None, Some(person)) if is_applicant(person) => person.id.clone(),
                (None, _) => format!("inst-{}", text(values, "credit_code").to_ascii_lowercase()),
            };
            let starter = record.created_by.clone();
            if account.len() <= "inst-".len() {
                return Err(Failure::permanent("invalid-input", "机构缺少统一社会信用代码 (no credit code)"));
            }
            let phone = Some(text(values, "contact_phone").to_string()).filter(|phone| phone.len() == 11);
            let unit = record.district.clone().unwrap_or_else(|| CITY_UNIT.to_string());
            let person = NewPerson {
                id: account.clone(),
                display_name: name.clone(),
                kind: "provider".into(),
                roles: vec!["provider".into()],
                unit: unit.clone(),
                phone,
            };
            let phone_bound = ports.accounts.ensure_account(&person).await?;
            // The account belongs to the institution's district from now on (its staff manage it).
            let profile = Some((name.as_str(), unit.as_str()));
            ports.accounts.change_roles(&account, &["provider"], &["provider-applicant"], profile).await?;
            let code = match text(values, "merchant_code") {
                "" => merchant_code(ports.crypto.as_ref(), &record.id)?,
                held => held.to_string(),
            };
            let joined = match text(values, "joined_on") {
                "" => today(),
                held => held.to_string(),
            };
            let mut set = Map::new();
            set.insert("status".into(), json!("active"));
            set.insert("account".into(), json!(account));
            set.insert("merchant_code".into(), json!(code));
            set.insert("joined_on".into(), json!(joined));
            match ports.records.set_fields(FORM, id, record.version, set, "开通入驻").await {
                Ok(()) => {
                    // The institution reads its own record (its data scope is its own).
                    ports.records.hand_over(FORM, id, &account).await?;
                    break (account, name, starter, phone_bound);
                }
                Err(PortError::Unavailable(_)) if attempt < SAVE_ATTEMPTS => continue,
                Err(error) => return Err(error.into()),
            }
        };
        let (account, name, starter, phone_bound) = (account.0, account.1, account.2, account.3);
        let link = Some(format!("/m/forms/{FORM}/{id}"));
        let welcome = Note {
            title: "入驻审核已通过".into(),
            body: format!(
                "“{name}”已入驻上海市双拥优待服务平台。机构账号：{account}；商户二维码已生成，可在机构信息中查看和打印。"
            ),
            link: link.clone(),
        };
        ports.messages.message_to_account(&task.key("welcome"), &account, &welcome).await?;
        let sms = format!(
            "【上海双拥】“{name}”的入驻申请已审核通过，机构账号 {account}，请登录双拥服务轻应用查看商户二维码。"
        );
        ports.messages.sms_to_account(&task.key("sms"), &account, &sms).await?;
        if starter != account {
            // District staff applied on the institution's behalf: they hear of it too, and of an
            // account that could not be given the contact phone (another account has it).
            let login = if phone_bound {
                "机构可用联系电话以短信验证码登录。"
            } else {
                "联系电话已被其他账号使用，机构账号未绑定手机，请在账号管理中为其设置密码。"
            };
            let done = Note {
                title: "代为申请的机构已入驻".into(),
                body: format!("您代为申请的“{name}”已审核通过，已开通机构账号 {account}。{login}"),
                link: Some(format!("/admin/forms/{FORM}/{id}")),
            };
            ports.messages.message_to_account(&task.key("applicant"), &starter, &done).await?;
        }
        let mut output = Variables::new();
        output.insert("institutionAccount".into(), Value::String(account));
        Ok(output)
    }
}
