//! Password changes over HTTP: [`::identity::password`] with this node's store and policy.

pub use ::identity::password::{check_policy, hash};

use crate::AppState;
use crate::error::ApiResult;

/// Sets a new password for `username` after the policy and history checks; ends every session
/// of the user. `must_change` marks it as an initial password (a reset by an administrator).
pub async fn change(state: &AppState, username: &str, new_password: &str, must_change: bool) -> ApiResult<()> {
    let (store, policy) = (state.store().as_ref(), &state.security.password);
    Ok(::identity::password::change(store, policy, username, new_password, must_change).await?)
}
