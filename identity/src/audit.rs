//! Writing the audit log: every security-relevant action as one row of the HMAC-SM3 chain
//! (`crypto::audit`), and its retention.

use std::sync::Arc;

use store::Store;
use store::identity::AuditEntry;

/// An audit entry stamped now.
pub fn entry(user: Option<&str>, ip: &str, action: &str, target: Option<&str>, result: &str) -> AuditEntry {
    AuditEntry {
        at: store::now_millis(),
        user_id: user.map(str::to_string),
        source_ip: Some(ip.to_string()),
        action: action.to_string(),
        target: target.map(str::to_string),
        result: result.to_string(),
        detail: None,
    }
}

/// Appends an audit row. A failure is logged and returned: an action that cannot be recorded
/// must not look successful.
pub async fn record(store: &dyn Store, crypto: &dyn crypto::CryptoProvider, entry: AuditEntry) -> crate::Result<()> {
    store.append_audit(&entry, crypto).await.map(|_| ()).map_err(|error| {
        tracing::error!(%error, action = %entry.action, "cannot write the audit log");
        crate::Error::Audit(error)
    })
}

/// Applies audit retention now and every six hours: rows older than `retention_days` go, the
/// chain stays verifiable from the new base. Any node may run it; the head row serialises them.
pub fn spawn_retention(store: Arc<dyn Store>, crypto: Arc<dyn crypto::CryptoProvider>, retention_days: i64) {
    tokio::spawn(async move {
        loop {
            let before = store::now_millis() - retention_days * 86_400_000;
            let purge = entry(Some("system"), "-", "audit.purge", None, "success");
            match store.purge_audit(before, &purge, crypto.as_ref()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "audit retention removed old rows"),
                Err(error) => tracing::warn!(%error, "audit retention failed; retrying later"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(6 * 3600)).await;
        }
    });
}
