//! The organisation tree and the roles, as shipped in `definitions/org/`, and units added below.

use store::Store;
use store::identity::{OrgUnit, Role};

use crate::{Error, Refusal};

const UNITS: &str = include_str!("../../definitions/org/units.json");
const ROLES: &str = include_str!("../../definitions/org/roles.json");

/// The id of the city-level unit (the root of the tree).
pub const CITY_UNIT: &str = "310000";

/// Writes the city, the 16 districts and the roles (idempotent; run at every start, so a changed
/// definition file takes effect on the next start).
pub async fn seed(store: &dyn Store) -> crate::Result<()> {
    #[derive(serde::Deserialize)]
    struct Named {
        id: String,
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Units {
        city: Named,
        districts: Vec<Named>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RoleDefinition {
        id: String,
        name: String,
        data_scope: String,
        permissions: Vec<String>,
    }
    let broken = |file: &str, error: serde_json::Error| Error::Definition(format!("definitions/org/{file}: {error}"));
    let units: Units = serde_json::from_str(UNITS).map_err(|error| broken("units.json", error))?;
    let city =
        OrgUnit { id: units.city.id, parent_id: None, name: units.city.name, kind: "city".into(), district: None };
    store.upsert_org_unit(&city).await?;
    for district in units.districts {
        let unit = OrgUnit {
            id: district.id.clone(),
            parent_id: Some(city.id.clone()),
            name: district.name,
            kind: "district".into(),
            district: Some(district.id),
        };
        store.upsert_org_unit(&unit).await?;
    }
    let roles: Vec<RoleDefinition> = serde_json::from_str(ROLES).map_err(|error| broken("roles.json", error))?;
    for role in roles {
        if !["all", "district", "unit", "own"].contains(&role.data_scope.as_str()) {
            return Err(Error::Definition(format!("role {}: unknown data scope '{}'", role.id, role.data_scope)));
        }
        let role = Role { id: role.id, name: role.name, data_scope: role.data_scope, permissions: role.permissions };
        store.upsert_role(&role).await?;
    }
    Ok(())
}

/// Adds a unit below an existing unit; it belongs to its parent's district, and the addition is
/// audited. Shared by `POST /api/org-units` and `shuangyong unit add`.
pub async fn add_unit(
    store: &dyn Store,
    crypto: &dyn crypto::CryptoProvider,
    actor: &str,
    unit: (&str, &str, &str),
    ip: &str,
) -> crate::Result<OrgUnit> {
    let (id, parent, name) = unit;
    let valid_id =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_id || name.trim().is_empty() || name.chars().count() > 64 {
        return Err(Error::refused(
            Refusal::Invalid,
            "invalid-input",
            "单位编号只能包含字母、数字、- 和 _（最长 64 个字符），名称不能为空且最长 64 个字符 (invalid unit)",
        ));
    }
    if store.org_unit(id).await?.is_some() {
        return Err(Error::refused(Refusal::Conflict, "conflict", format!("单位 '{id}' 已存在 (unit exists)")));
    }
    let parent = store.org_unit(parent).await?.ok_or_else(|| {
        Error::refused(Refusal::Invalid, "invalid-input", format!("未知的上级单位 '{parent}' (unknown parent)"))
    })?;
    let unit = OrgUnit {
        id: id.to_string(),
        parent_id: Some(parent.id.clone()),
        name: name.trim().to_string(),
        kind: "unit".into(),
        district: parent.district.clone(),
    };
    store.upsert_org_unit(&unit).await?;
    crate::audit::record(store, crypto, crate::audit::entry(Some(actor), ip, "unit.create", Some(id), "success"))
        .await?;
    Ok(unit)
}
