//! The one task that writes the inbox. Requests that arrive together share a transaction (and so
//! one fsync on SQLite), which is what lets an embedded store keep up with a burst of webhooks;
//! each request is answered only after the commit that holds its event.

use crate::store::{InboxInsert, NewInboxEntry, Store};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

/// The most events one transaction takes.
const MAX_BATCH: usize = 256;

struct Job {
    entry: NewInboxEntry,
    expires_at: i64,
    reply: oneshot::Sender<Result<InboxInsert, String>>,
}

#[derive(Clone)]
pub struct InboxWriter {
    jobs: mpsc::Sender<Job>,
}

impl InboxWriter {
    /// Starts the writer; it stops when every handle is dropped. `stored`, when given, is
    /// notified after each committed batch (the processor of the same daemon, so a webhook's
    /// change is processed at once rather than at the processor's next idle check).
    pub fn spawn(store: Store, stored: Option<Arc<Notify>>) -> InboxWriter {
        let (jobs, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let entries: Vec<(&NewInboxEntry, i64)> =
                    batch.iter().map(|j| (&j.entry, j.expires_at)).collect();
                match store.insert_inbox_batch(&entries).await {
                    Ok(results) => {
                        if let Some(stored) = &stored {
                            stored.notify_one();
                        }
                        for (job, result) in batch.drain(..).zip(results) {
                            let _ = job.reply.send(Ok(result));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, events = batch.len(), "inbox write failed");
                        for job in batch.drain(..) {
                            let _ = job.reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        InboxWriter { jobs }
    }

    /// Stores `entry` (or finds it a duplicate) and returns once that is committed.
    pub async fn insert(
        &self,
        entry: NewInboxEntry,
        expires_at: i64,
    ) -> Result<InboxInsert, String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                entry,
                expires_at,
                reply,
            })
            .await
            .map_err(|_| "the inbox writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the inbox writer has stopped".to_owned())?
    }
}
