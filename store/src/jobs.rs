//! The storage port for jobs (timers, async continuations, timer start events), message and
//! signal subscriptions, and external tasks, with its SQL expanded per backend like
//! [`store_impl`](crate::backend::store_impl).
//!
//! Locking: a job or external task is taken with one `UPDATE … WHERE id IN (SELECT … LIMIT n)
//! RETURNING`. On PostgreSQL the inner select is `FOR UPDATE SKIP LOCKED`, so two nodes never
//! take the same row; SQLite has one writer, so the statement is already exclusive. A lock has
//! an expiry: a node that dies leaves its rows to be taken over when the lock runs out.

use crate::model::*;
use crate::{DataScope, Result};

#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    /// Locks up to `limit` due jobs with retries left for `owner` until `lock_until`. Jobs whose
    /// lock expired are taken over.
    async fn acquire_jobs(&self, owner: &str, now: i64, lock_until: i64, limit: i64) -> Result<Vec<JobRecord>>;
    /// A failed attempt: `retries` left, next attempt at `due_at`, lock released.
    async fn job_failed(&self, id: &str, retries: i64, due_at: i64, message: &str) -> Result<()>;
    /// Releases a lock without counting an attempt (for example the instance was busy).
    async fn unlock_job(&self, id: &str, due_at: i64) -> Result<()>;
    async fn delete_job(&self, id: &str) -> Result<()>;
    /// Keeps a job whose last attempt failed, with 0 retries and its incident's id as payload,
    /// so `PUT /job/{id}/retries` can resolve the incident as in Camunda.
    async fn insert_failed_job(&self, job: &JobRecord) -> Result<()>;
    /// Deletes the failed job kept for an incident (once the incident is resolved).
    async fn delete_failed_job(&self, incident_id: &str) -> Result<()>;
    /// Sets a job's retries (Camunda's `PUT /job/{id}/retries`); fails with NotFound.
    async fn set_job_retries(&self, id: &str, retries: i64) -> Result<()>;
    async fn jobs(&self, query: &JobQuery) -> Result<(Vec<JobRecord>, i64)>;
    /// When the next job can be acquired: the earliest due time of a job with retries left (or
    /// its lock's expiry, if later).
    async fn next_job_due(&self) -> Result<Option<i64>>;
    /// Replaces the start-event jobs and subscriptions of a process key (at deploy, the latest
    /// version's start events win).
    async fn replace_start_triggers(
        &self,
        key: &str,
        jobs: &[JobRecord],
        subscriptions: &[SubscriptionRecord],
    ) -> Result<()>;
    async fn subscriptions(&self, query: &SubscriptionQuery) -> Result<Vec<SubscriptionRecord>>;

    /// fetchAndLock: locks up to `limit` unlocked external tasks of the topics for `worker`.
    /// Only tasks of instances in `scope` are offered.
    async fn lock_external_tasks(
        &self,
        worker: &str,
        topics: &[TopicRequest],
        now: i64,
        limit: i64,
        scope: &DataScope,
    ) -> Result<Vec<ExternalTaskRecord>>;
    async fn external_tasks(&self, query: &ExternalTaskQuery) -> Result<(Vec<ExternalTaskRecord>, i64)>;
    /// Sets or clears the lock of a task; with `worker`, only if that worker holds the lock now.
    async fn set_external_task_lock(
        &self,
        id: &str,
        worker: Option<&str>,
        lock_expires_at: Option<i64>,
        now: i64,
    ) -> Result<()>;
    /// A worker reports a failure: retries left and when the task may be fetched again.
    #[allow(clippy::too_many_arguments)]
    async fn external_task_failed(
        &self,
        id: &str,
        worker: &str,
        retries: i64,
        message: Option<&str>,
        details: Option<&str>,
        available_at: i64,
        now: i64,
    ) -> Result<()>;
    async fn set_external_task_retries(&self, id: &str, retries: i64) -> Result<()>;
}

/// Expands [`JobStore`] for one backend (same conventions as `store_impl!`; the backend type
/// also has `const SKIP_LOCKED: &str`).
macro_rules! jobs_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::Row;

            use crate::backend::{Batch, Filter, Param, limit, order_by};
            use crate::jobs::JobStore;
            use crate::model::*;
            use crate::{Error, Result};

            type DbRow = <$db as sqlx::Database>::Row;

            const JOB_COLUMNS: &str = "id, kind, instance_id, wait_id, definition_id, definition_key, activity_id, due_at, retries, lock_owner, lock_expires_at, exception_message, payload, created_at";
            const SUBSCRIPTION_COLUMNS: &str = "id, kind, name, instance_id, wait_id, definition_id, definition_key, activity_id, created_at";
            const EXTERNAL_COLUMNS: &str = "id, instance_id, token, topic, definition_id, definition_key, activity_id, business_key, priority, worker_id, lock_expires_at, retries, error_message, error_details, created_at";

            fn job_from(row: &DbRow) -> Result<JobRecord> {
                Ok(JobRecord {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    instance_id: row.try_get("instance_id")?,
                    wait_id: row.try_get("wait_id")?,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    activity_id: row.try_get("activity_id")?,
                    due_at: row.try_get("due_at")?,
                    retries: row.try_get("retries")?,
                    lock_owner: row.try_get("lock_owner")?,
                    lock_expires_at: row.try_get("lock_expires_at")?,
                    exception_message: row.try_get("exception_message")?,
                    payload: row.try_get("payload")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn subscription_from(row: &DbRow) -> Result<SubscriptionRecord> {
                Ok(SubscriptionRecord {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    name: row.try_get("name")?,
                    instance_id: row.try_get("instance_id")?,
                    wait_id: row.try_get("wait_id")?,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    activity_id: row.try_get("activity_id")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn external_from(row: &DbRow) -> Result<ExternalTaskRecord> {
                Ok(ExternalTaskRecord {
                    id: row.try_get("id")?,
                    instance_id: row.try_get("instance_id")?,
                    token: row.try_get("token")?,
                    topic: row.try_get("topic")?,
                    definition_id: row.try_get("definition_id")?,
                    definition_key: row.try_get("definition_key")?,
                    activity_id: row.try_get("activity_id")?,
                    business_key: row.try_get("business_key")?,
                    priority: row.try_get("priority")?,
                    worker_id: row.try_get("worker_id")?,
                    lock_expires_at: row.try_get("lock_expires_at")?,
                    retries: row.try_get("retries")?,
                    error_message: row.try_get("error_message")?,
                    error_details: row.try_get("error_details")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn bind_params<'q>(
                mut query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                params: &'q [Param],
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
                for param in params {
                    query = bind(query, param);
                }
                query
            }

            impl $store {
                /// Runs one write statement; NotFound when it changed no row.
                async fn write_one(&self, statement: &'static str, params: Vec<Param>, missing: String) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let done = bind_params(sqlx::query(Self::sql(statement)), &params).execute(&mut *tx).await?;
                    tx.commit().await?;
                    if done.rows_affected() == 0 {
                        return Err(Error::NotFound(missing));
                    }
                    Ok(())
                }

                /// Rows of a job, subscription or external task written with an instance's
                /// changes (called from `collect_changes`).
                pub(crate) fn collect_job_changes(batch: &mut Batch, instance_id: &str, changes: &Changes) {
                    if !changes.closed_waits.is_empty() {
                        let marks = vec!["?"; changes.closed_waits.len()].join(", ");
                        for table in ["jobs", "event_subscriptions"] {
                            let mut params = vec![Param::Text(instance_id.to_string())];
                            params.extend(changes.closed_waits.iter().map(|&wait| Param::Int(wait)));
                            batch.push(format!("DELETE FROM {table} WHERE instance_id = ? AND wait_id IN ({marks})"), params);
                        }
                    }
                    for job in &changes.new_jobs {
                        batch.push(
                            format!("INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                            job_params(job),
                        );
                    }
                    for subscription in &changes.new_subscriptions {
                        batch.push(
                            format!("INSERT INTO event_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                            subscription_params(subscription),
                        );
                    }
                    let replaced = changes.new_external_tasks.iter().map(|task| &task.id).chain(&changes.ended_external_tasks);
                    let ids: Vec<Param> = replaced.map(Param::from).collect();
                    if !ids.is_empty() {
                        let marks = vec!["?"; ids.len()].join(", ");
                        batch.push(format!("DELETE FROM external_tasks WHERE id IN ({marks})"), ids);
                    }
                    for task in &changes.new_external_tasks {
                        batch.push(
                            format!("INSERT INTO external_tasks ({EXTERNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                            vec![
                                Param::from(&task.id), (&task.instance_id).into(), task.token.into(), (&task.topic).into(),
                                (&task.definition_id).into(), (&task.definition_key).into(), (&task.activity_id).into(),
                                (&task.business_key).into(), task.priority.into(), (&task.worker_id).into(),
                                task.lock_expires_at.into(), task.retries.into(), (&task.error_message).into(),
                                (&task.error_details).into(), task.created_at.into(),
                            ],
                        );
                    }
                    if changes.instance_ended {
                        // Failed jobs kept for incidents go with the instance.
                        batch.push("DELETE FROM jobs WHERE instance_id = ? AND retries = 0 AND wait_id IS NULL".into(), vec![Param::Text(instance_id.to_string())]);
                    }
                    match &changes.executed_job {
                        None => {}
                        Some(ExecutedJob { id, next: None }) => batch.push("DELETE FROM jobs WHERE id = ?".into(), vec![Param::from(id)]),
                        Some(ExecutedJob { id, next: Some((due, cycle)) }) => batch.push(
                            "UPDATE jobs SET due_at = ?, payload = ?, lock_owner = NULL, lock_expires_at = NULL, exception_message = NULL WHERE id = ?".into(),
                            vec![Param::Int(*due), Param::from(cycle), Param::from(id)],
                        ),
                    }
                }
            }

            fn job_params(job: &JobRecord) -> Vec<Param> {
                vec![
                    Param::from(&job.id), (&job.kind).into(), (&job.instance_id).into(), job.wait_id.into(),
                    (&job.definition_id).into(), (&job.definition_key).into(), (&job.activity_id).into(),
                    job.due_at.into(), job.retries.into(), (&job.lock_owner).into(), job.lock_expires_at.into(),
                    (&job.exception_message).into(), (&job.payload).into(), job.created_at.into(),
                ]
            }

            fn subscription_params(subscription: &SubscriptionRecord) -> Vec<Param> {
                vec![
                    Param::from(&subscription.id), (&subscription.kind).into(), (&subscription.name).into(),
                    (&subscription.instance_id).into(), subscription.wait_id.into(), (&subscription.definition_id).into(),
                    (&subscription.definition_key).into(), (&subscription.activity_id).into(), subscription.created_at.into(),
                ]
            }

            #[async_trait::async_trait]
            impl JobStore for $store {
                async fn acquire_jobs(&self, owner: &str, now: i64, lock_until: i64, limit: i64) -> Result<Vec<JobRecord>> {
                    let statement = format!(
                        "UPDATE jobs SET lock_owner = ?, lock_expires_at = ? WHERE id IN (SELECT id FROM jobs WHERE due_at <= ? AND retries > 0 AND (lock_expires_at IS NULL OR lock_expires_at < ?) ORDER BY due_at LIMIT ?{}) RETURNING {JOB_COLUMNS}",
                        Self::SKIP_LOCKED
                    );
                    let mut tx = self.begin_write().await?;
                    let rows = sqlx::query(Self::dynamic(statement))
                        .bind(owner).bind(lock_until).bind(now).bind(now).bind(limit)
                        .fetch_all(&mut *tx).await?;
                    tx.commit().await?;
                    let mut jobs = rows.iter().map(job_from).collect::<Result<Vec<_>>>()?;
                    jobs.sort_by_key(|job| job.due_at);
                    Ok(jobs)
                }

                async fn job_failed(&self, id: &str, retries: i64, due_at: i64, message: &str) -> Result<()> {
                    self.write_one(
                        "UPDATE jobs SET retries = ?, due_at = ?, exception_message = ?, lock_owner = NULL, lock_expires_at = NULL WHERE id = ?",
                        vec![Param::Int(retries), Param::Int(due_at), Param::Text(message.to_string()), Param::Text(id.to_string())],
                        format!("job {id} does not exist"),
                    ).await
                }

                async fn unlock_job(&self, id: &str, due_at: i64) -> Result<()> {
                    self.write_one(
                        "UPDATE jobs SET due_at = ?, lock_owner = NULL, lock_expires_at = NULL WHERE id = ?",
                        vec![Param::Int(due_at), Param::Text(id.to_string())],
                        format!("job {id} does not exist"),
                    ).await
                }

                async fn delete_job(&self, id: &str) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("DELETE FROM jobs WHERE id = ?")).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn insert_failed_job(&self, job: &JobRecord) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    let params = job_params(job);
                    bind_params(sqlx::query(Self::dynamic(format!("INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))), &params).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn delete_failed_job(&self, incident_id: &str) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("DELETE FROM jobs WHERE retries = 0 AND wait_id IS NULL AND payload = ?")).bind(incident_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_job_retries(&self, id: &str, retries: i64) -> Result<()> {
                    self.write_one(
                        "UPDATE jobs SET retries = ?, exception_message = CASE WHEN ? > 0 THEN NULL ELSE exception_message END WHERE id = ?",
                        vec![Param::Int(retries), Param::Int(retries), Param::Text(id.to_string())],
                        format!("job {id} does not exist"),
                    ).await
                }

                async fn jobs(&self, query: &JobQuery) -> Result<(Vec<JobRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter
                        .eq("id", &query.id).eq("instance_id", &query.instance_id).eq("definition_id", &query.definition_id)
                        .eq("definition_key", &query.definition_key).eq("activity_id", &query.activity_id).eq("kind", &query.kind);
                    if let Some(now) = query.due_before { filter.clause("due_at <= ?", [Param::Int(now)]); }
                    match query.with_retries_left {
                        Some(true) => { filter.clause("retries > 0", []); }
                        Some(false) => { filter.clause("retries <= 0", []); }
                        None => {}
                    }
                    if query.timers { filter.clause("kind IN ('timer', 'timer-start-event')", []); }
                    if query.messages { filter.clause("kind = 'async-continuation'", []); }
                    if query.scope != crate::DataScope::All {
                        filter.clause("instance_id IS NOT NULL", []).scope(&query.scope, "jobs.instance_id");
                    }
                    let order = order_by(&query.sorting, &[("jobId", "id"), ("jobDueDate", "due_at"), ("jobRetries", "retries"), ("processInstanceId", "instance_id"), ("processDefinitionId", "definition_id"), ("processDefinitionKey", "definition_key")], "due_at ASC, id ASC")?;
                    let where_sql = filter.sql();
                    let select = format!("SELECT {JOB_COLUMNS} FROM jobs{where_sql}{order}{}", limit(&query.page));
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    let items = rows.iter().map(job_from).collect::<Result<Vec<_>>>()?;
                    let count = format!("SELECT COUNT(*) AS n FROM jobs{where_sql}");
                    let total: i64 = bind_params(sqlx::query(Self::dynamic(count)), &filter.params).fetch_one(&self.pool).await?.try_get("n")?;
                    Ok((items, total))
                }

                async fn next_job_due(&self) -> Result<Option<i64>> {
                    let row = sqlx::query("SELECT MIN(CASE WHEN lock_expires_at > due_at THEN lock_expires_at ELSE due_at END) AS due FROM jobs WHERE retries > 0").fetch_one(&self.pool).await?;
                    Ok(row.try_get("due")?)
                }

                async fn replace_start_triggers(&self, key: &str, jobs: &[JobRecord], subscriptions: &[SubscriptionRecord]) -> Result<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(Self::sql("DELETE FROM jobs WHERE definition_key = ? AND instance_id IS NULL")).bind(key).execute(&mut *tx).await?;
                    sqlx::query(Self::sql("DELETE FROM event_subscriptions WHERE definition_key = ? AND instance_id IS NULL")).bind(key).execute(&mut *tx).await?;
                    for job in jobs {
                        let params = job_params(job);
                        bind_params(sqlx::query(Self::dynamic(format!("INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))), &params).execute(&mut *tx).await?;
                    }
                    for subscription in subscriptions {
                        let params = subscription_params(subscription);
                        bind_params(sqlx::query(Self::dynamic(format!("INSERT INTO event_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))), &params).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn subscriptions(&self, query: &SubscriptionQuery) -> Result<Vec<SubscriptionRecord>> {
                    let mut filter = Filter::default();
                    filter.eq("s.kind", &query.kind).eq("s.name", &query.name).eq("s.instance_id", &query.instance_id);
                    match query.start_events {
                        Some(true) => { filter.clause("s.instance_id IS NULL", []); }
                        Some(false) => { filter.clause("s.instance_id IS NOT NULL", []); }
                        None => {}
                    }
                    if let Some(business_key) = &query.business_key {
                        filter.clause("EXISTS (SELECT 1 FROM process_instances p WHERE p.id = s.instance_id AND p.business_key = ?)", [Param::Text(business_key.clone())]);
                    }
                    if query.scope != crate::DataScope::All && query.start_events != Some(true) {
                        filter.clause("s.instance_id IS NOT NULL", []).scope(&query.scope, "s.instance_id");
                    }
                    let columns = SUBSCRIPTION_COLUMNS.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ");
                    let select = format!("SELECT {columns} FROM event_subscriptions s{} ORDER BY s.created_at, s.id{}", filter.sql(), limit(&query.page));
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    rows.iter().map(subscription_from).collect()
                }

                async fn lock_external_tasks(&self, worker: &str, topics: &[TopicRequest], now: i64, limit: i64, scope: &crate::DataScope) -> Result<Vec<ExternalTaskRecord>> {
                    let mut locked = Vec::new();
                    let mut tx = self.begin_write().await?;
                    for topic in topics {
                        let left = limit - locked.len() as i64;
                        if left <= 0 {
                            break;
                        }
                        let mut filter = Filter::default();
                        filter
                            .clause("topic = ?", [Param::Text(topic.topic.clone())])
                            .clause("(lock_expires_at IS NULL OR lock_expires_at < ?)", [Param::Int(now)])
                            .clause("(retries IS NULL OR retries > 0)", [])
                            .eq("business_key", &topic.business_key)
                            .eq("definition_key", &topic.definition_key)
                            .scope(scope, "external_tasks.instance_id");
                        let mut params = vec![Param::Text(worker.to_string()), Param::Int(now.saturating_add(topic.lock_duration))];
                        params.extend(filter.params.iter().cloned());
                        params.push(Param::Int(left));
                        let statement = format!(
                            "UPDATE external_tasks SET worker_id = ?, lock_expires_at = ? WHERE id IN (SELECT id FROM external_tasks{} ORDER BY {}created_at, id LIMIT ?{}) RETURNING {EXTERNAL_COLUMNS}",
                            filter.sql(),
                            if topic.by_priority { "priority DESC, " } else { "" },
                            Self::SKIP_LOCKED
                        );
                        let rows = bind_params(sqlx::query(Self::dynamic(statement)), &params).fetch_all(&mut *tx).await?;
                        for row in &rows {
                            locked.push(external_from(row)?);
                        }
                    }
                    tx.commit().await?;
                    if topics.iter().all(|topic| topic.by_priority) {
                        locked.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.created_at.cmp(&b.created_at)));
                    }
                    Ok(locked)
                }

                async fn external_tasks(&self, query: &ExternalTaskQuery) -> Result<(Vec<ExternalTaskRecord>, i64)> {
                    let mut filter = Filter::default();
                    filter
                        .eq("id", &query.id).eq("topic", &query.topic).eq("worker_id", &query.worker_id)
                        .eq("instance_id", &query.instance_id).eq("definition_id", &query.definition_id).eq("activity_id", &query.activity_id);
                    match query.locked {
                        Some(true) => { filter.clause("lock_expires_at > ?", [Param::Int(query.now)]); }
                        Some(false) => { filter.clause("(lock_expires_at IS NULL OR lock_expires_at <= ?)", [Param::Int(query.now)]); }
                        None => {}
                    }
                    match query.no_retries_left {
                        Some(true) => { filter.clause("retries = 0", []); }
                        Some(false) => { filter.clause("(retries IS NULL OR retries > 0)", []); }
                        None => {}
                    }
                    filter.scope(&query.scope, "external_tasks.instance_id");
                    let order = order_by(&query.sorting, &[("id", "id"), ("lockExpirationTime", "lock_expires_at"), ("processInstanceId", "instance_id"), ("processDefinitionId", "definition_id"), ("processDefinitionKey", "definition_key"), ("taskPriority", "priority"), ("createTime", "created_at")], "created_at ASC, id ASC")?;
                    let where_sql = filter.sql();
                    let select = format!("SELECT {EXTERNAL_COLUMNS} FROM external_tasks{where_sql}{order}{}", limit(&query.page));
                    let rows = bind_params(sqlx::query(Self::dynamic(select)), &filter.params).fetch_all(&self.pool).await?;
                    let items = rows.iter().map(external_from).collect::<Result<Vec<_>>>()?;
                    let count = format!("SELECT COUNT(*) AS n FROM external_tasks{where_sql}");
                    let total: i64 = bind_params(sqlx::query(Self::dynamic(count)), &filter.params).fetch_one(&self.pool).await?.try_get("n")?;
                    Ok((items, total))
                }

                async fn set_external_task_lock(&self, id: &str, worker: Option<&str>, lock_expires_at: Option<i64>, now: i64) -> Result<()> {
                    match worker {
                        Some(worker) => self.write_one(
                            "UPDATE external_tasks SET lock_expires_at = ? WHERE id = ? AND worker_id = ? AND lock_expires_at > ?",
                            vec![Param::OptInt(lock_expires_at), Param::Text(id.to_string()), Param::Text(worker.to_string()), Param::Int(now)],
                            format!("external task {id} is not locked by worker '{worker}'"),
                        ).await,
                        None => self.write_one(
                            "UPDATE external_tasks SET worker_id = NULL, lock_expires_at = NULL WHERE id = ?",
                            vec![Param::Text(id.to_string())],
                            format!("external task {id} does not exist"),
                        ).await,
                    }
                }

                async fn external_task_failed(&self, id: &str, worker: &str, retries: i64, message: Option<&str>, details: Option<&str>, available_at: i64, now: i64) -> Result<()> {
                    self.write_one(
                        "UPDATE external_tasks SET retries = ?, error_message = ?, error_details = ?, lock_expires_at = ? WHERE id = ? AND worker_id = ? AND lock_expires_at > ?",
                        vec![
                            Param::Int(retries), Param::OptText(message.map(str::to_string)), Param::OptText(details.map(str::to_string)),
                            Param::Int(available_at), Param::Text(id.to_string()), Param::Text(worker.to_string()), Param::Int(now),
                        ],
                        format!("external task {id} is not locked by worker '{worker}'"),
                    ).await
                }

                async fn set_external_task_retries(&self, id: &str, retries: i64) -> Result<()> {
                    self.write_one(
                        "UPDATE external_tasks SET retries = ? WHERE id = ?",
                        vec![Param::Int(retries), Param::Text(id.to_string())],
                        format!("external task {id} does not exist"),
                    ).await
                }
            }
        };
    };
}

pub(crate) use jobs_impl;
