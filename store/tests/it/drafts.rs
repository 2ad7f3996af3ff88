//! The BPMN editor's drafts (issue 12): saved per process key, a save over a newer save refused,
//! newest first, the deployed definition recorded until the next save.

use store::ProcessDraft;

use crate::models::APPROVAL;
use crate::support::{assert_conflict, assert_not_found, each_backend};

fn draft(id: &str, key: &str, by: &str, at: i64) -> ProcessDraft {
    ProcessDraft {
        id: id.into(),
        process_key: key.into(),
        name: Some(format!("{key} 草稿")),
        xml: APPROVAL.into(),
        revision: 1,
        created_by: by.into(),
        created_at: at,
        saved_by: by.into(),
        saved_at: at,
        deployed_definition_id: None,
    }
}

#[tokio::test]
async fn drafts_save_with_revisions_and_refuse_a_stale_save() {
    each_backend(|cx| async move {
        let store = &cx.store;
        let first = draft("d1", "approval", "alice", 1_000);
        store.insert_draft(&first).await.expect("a draft is stored");
        assert_eq!(store.draft("d1").await.expect("loads").as_ref(), Some(&first), "{}: stored as given", cx.backend);

        // Bob saves over revision 1: revision 2, his name, the new content.
        let changed = APPROVAL.replace("name=\"Review\"", "name=\"复核\"");
        let bob = ProcessDraft { xml: changed.clone(), saved_by: "bob".into(), saved_at: 2_000, ..first.clone() };
        let saved = store.update_draft(&bob, 1).await.expect("a save over the loaded revision");
        assert_eq!((saved.revision, saved.saved_by.as_str(), saved.saved_at), (2, "bob", 2_000));
        assert_eq!(saved.xml, changed);
        assert_eq!(saved.created_by, "alice", "the creator stays");

        // Alice still has revision 1 open: her save is refused and bob's content stays.
        let alice = ProcessDraft { xml: "<lost/>".into(), saved_by: "alice".into(), saved_at: 3_000, ..first.clone() };
        assert_conflict(store.update_draft(&alice, 1).await, "a save over a newer save");
        let kept = store.draft("d1").await.expect("loads").expect("exists");
        assert_eq!(
            (kept.revision, kept.xml.as_str()),
            (2, changed.as_str()),
            "{}: nothing of the refused save",
            cx.backend
        );
        assert_not_found(store.update_draft(&draft("nope", "approval", "alice", 1), 1).await, "a save over no draft");

        // Deployed at revision 2; refused for a stale revision; a later save clears the mark.
        assert_conflict(store.mark_draft_deployed("d1", 1, "approval:2:x").await, "marking an older revision");
        store.mark_draft_deployed("d1", 2, "approval:2:x").await.expect("marks revision 2");
        let deployed = store.draft("d1").await.expect("loads").expect("exists");
        assert_eq!(deployed.deployed_definition_id.as_deref(), Some("approval:2:x"));
        let again = store.update_draft(&ProcessDraft { saved_at: 4_000, ..deployed }, 2).await.expect("saves");
        assert_eq!(
            (again.revision, again.deployed_definition_id),
            (3, None),
            "{}: a new save is not deployed",
            cx.backend
        );

        // Listed per key, last saved first; other keys apart.
        store.insert_draft(&draft("d2", "approval", "carol", 5_000)).await.expect("stored");
        store.insert_draft(&draft("d3", "other", "carol", 6_000)).await.expect("stored");
        let listed: Vec<String> = store.drafts("approval").await.expect("lists").into_iter().map(|d| d.id).collect();
        assert_eq!(listed, ["d2", "d1"], "{}: newest save first, one key only", cx.backend);
        assert!(store.drafts("missing").await.expect("lists").is_empty());

        store.delete_draft("d1").await.expect("deletes");
        assert_eq!(store.draft("d1").await.expect("loads"), None);
        assert_not_found(store.delete_draft("d1").await, "deleting it again");
    })
    .await;
}
