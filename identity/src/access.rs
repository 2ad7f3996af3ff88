//! Signed access-control records (三员分立 and tamper evidence): each account's unit, status and
//! roles are signed with the node's SM2 key, and a record changed behind the system's back is
//! refused. Also the check that the key file is the database's own.

use store::Store;
use store::identity::Principal;

use crate::{Error, Refusal};

/// The three administrator roles (三员): system, security and audit administrator.
pub const ADMIN_ROLES: [&str; 3] = ["sysadmin", "secadmin", "auditor"];

/// Whether an account holding `roles` holds an administrator role.
pub fn holds_admin_role(roles: &[String]) -> bool {
    roles.iter().any(|role| ADMIN_ROLES.contains(&role.as_str()))
}

/// 三员分立: no account ever holds two of the administrator roles, whoever assigns them and
/// however (API, CLI, seeding; [`sign_access`] refuses to sign such a record, and
/// [`verified_principal`] refuses one signed before this rule). `docs/security.md` T-ADMIN.
pub fn check_role_set(roles: &[String]) -> crate::Result<()> {
    let held = ADMIN_ROLES.iter().filter(|admin| roles.iter().any(|role| role == *admin)).count();
    if held > 1 {
        return Err(Error::refused(
            Refusal::Rule,
            "admin-roles-combined",
            "系统管理员、安全管理员、安全审计员不能由同一账户兼任 (三员分立: the administrator roles never combine)",
        ));
    }
    Ok(())
}

/// The bytes an account's access-control record signature covers: unit, status and roles.
pub fn access_record(principal: &Principal) -> Vec<u8> {
    let account = &principal.account;
    let mut roles = account.roles.clone();
    roles.sort();
    format!(
        "shuangyong-acl-v1\n{}\n{}\n{}\n{}",
        account.id,
        account.unit_id.as_deref().unwrap_or_default(),
        account.status,
        roles.join(",")
    )
    .into_bytes()
}

/// Signs an account's access-control record with the SM2 key (after any change to its unit,
/// status or roles). Callers outside a request (the CLI, the demo loader, tests) use this too.
pub async fn sign_access(store: &dyn Store, crypto: &dyn crypto::CryptoProvider, id: &str) -> crate::Result<()> {
    let Some(principal) = store.principal(id).await? else { return Ok(()) };
    check_role_set(&principal.account.roles)?;
    let signature = crypto.sign(&access_record(&principal))?;
    store.set_access_signature(id, &hex::encode(signature)).await?;
    Ok(())
}

/// Loads a user's principal and checks the SM2 signature over its access-control record: a
/// role, unit or status written into the database behind the system's back is refused (and
/// audited), never honoured.
pub async fn verified_principal(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    id: &str,
) -> crate::Result<Option<Principal>> {
    let Some(principal) = store.principal(id).await? else { return Ok(None) };
    let signature = store.access_signature(id).await?;
    let valid = signature
        .and_then(|text| hex::decode(text).ok())
        .is_some_and(|bytes| crypto.verify(&access_record(&principal), &bytes));
    let refusal = if valid {
        check_role_set(&principal.account.roles).err()
    } else {
        Some(Error::refused(
            Refusal::Forbidden,
            "access-record-invalid",
            "账户的权限记录校验失败，请联系安全管理员 (the account's access-control record failed its signature check)",
        ))
    };
    if let Some(refusal) = refusal {
        crate::audit::record(store, crypto, crate::audit::entry(None, "-", "access.verify", Some(id), "denied"))
            .await?;
        return Err(refusal);
    }
    Ok(Some(principal))
}

/// The fingerprint of a key file: short MACs of a fixed label under its audit and index keys,
/// and the start of its SM2 public key. It names a key file without revealing a key.
pub fn key_fingerprint(crypto: &dyn crypto::CryptoProvider) -> crate::Result<String> {
    let audit = hex::encode(crypto.mac(b"shuangyong-key-check-v1")?);
    let index = crypto.blind_index("key-check", "v1")?;
    let public = crypto.public_key_hex();
    Ok(format!("{}-{}-{}", &audit[..12], &index[..12.min(index.len())], &public[..12.min(public.len())]))
}

/// Refuses a key file that is not the one the database was set up with: a node started with a
/// fresh data folder against an existing PostgreSQL database would otherwise generate keys of
/// its own, and every login would fail its access-record check while sealed data stayed shut.
/// On a database without a recorded fingerprint (first start, or one made before this check)
/// the file is accepted only if it verifies the accounts' existing signatures; then its
/// fingerprint is recorded.
pub async fn check_key_file(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    key_file: &std::path::Path,
) -> crate::Result<()> {
    let ours = key_fingerprint(crypto)?;
    let mismatch = |theirs: &str| {
        Error::Definition(format!(
            "the key file {} (fingerprint {ours}) is not the one this database was set up with (fingerprint {theirs}): \
             start every node with the same key file (SY_KEY_FILE / --key-file; a node with a fresh data folder \
             generates new keys), or restore the right file from its backup",
            key_file.display()
        ))
    };
    let recorded = match store.key_fingerprint().await? {
        Some(recorded) => recorded,
        None => {
            for account in store.accounts(&store::identity::AccountQuery::new(store::DataScope::All)).await? {
                let (Some(principal), Some(signature)) =
                    (store.principal(&account.id).await?, store.access_signature(&account.id).await?)
                else {
                    continue;
                };
                let valid = hex::decode(signature).is_ok_and(|bytes| crypto.verify(&access_record(&principal), &bytes));
                if !valid {
                    return Err(mismatch("not recorded; the accounts' signatures were made with another key"));
                }
                break;
            }
            store.record_key_fingerprint(&ours).await?
        }
    };
    if recorded != ours {
        return Err(mismatch(&recorded));
    }
    Ok(())
}

/// On the first start after access-control signatures were introduced (no account has one),
/// signs every account's current record once, and says so in the audit log. Afterwards an
/// unsigned or wrongly signed account is refused, never re-signed automatically.
pub async fn bootstrap_access_signatures(store: &dyn Store, crypto: &dyn crypto::CryptoProvider) -> crate::Result<()> {
    let accounts = store.accounts(&store::identity::AccountQuery::new(store::DataScope::All)).await?;
    let mut signed = false;
    for account in &accounts {
        if store.access_signature(&account.id).await?.is_some() {
            signed = true;
            break;
        }
    }
    if signed || accounts.is_empty() {
        return Ok(());
    }
    for account in &accounts {
        sign_access(store, crypto, &account.id).await?;
    }
    let mut record = crate::audit::entry(None, "-", "access.bootstrap", None, "success");
    record.detail = Some(format!("{} access-control records signed", accounts.len()));
    store.append_audit(&record, crypto).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use store::identity::{Account, Principal};

    use super::*;

    fn principal(roles: &[&str]) -> Principal {
        Principal {
            account: Account {
                id: "zhang".into(),
                display_name: None,
                unit_id: Some("310101".into()),
                district: Some("310101".into()),
                kind: "staff".into(),
                status: "active".into(),
                password_hash: String::new(),
                must_change_password: false,
                failed_logins: 0,
                locked_until: None,
                password_changed_at: None,
                totp_secret: None,
                phone_sealed: None,
                roles: roles.iter().map(|role| role.to_string()).collect(),
                created_at: 0,
            },
            permissions: Vec::new(),
            scope: store::DataScope::Nothing,
        }
    }

    /// The signed bytes are a stored format: existing signatures must keep verifying.
    #[test]
    fn the_access_record_is_unit_status_and_sorted_roles() {
        let record = access_record(&principal(&["secadmin", "district-staff"]));
        assert_eq!(record, b"shuangyong-acl-v1\nzhang\n310101\nactive\ndistrict-staff,secadmin".to_vec());
    }

    #[test]
    fn two_administrator_roles_never_combine() {
        assert!(check_role_set(&["sysadmin".into(), "district-staff".into()]).is_ok());
        let refused = check_role_set(&["sysadmin".into(), "auditor".into()]);
        assert!(matches!(refused, Err(Error::Refused { code: "admin-roles-combined", .. })), "{refused:?}");
    }
}
