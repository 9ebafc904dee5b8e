//! The one task that writes the inbox. Requests that arrive together share a transaction (and so
//! one fsync on SQLite), which is what lets an embedded store keep up with a burst of webhooks;
//! each request is answered only after the commit that holds its event.

use crate::store::{InboxInsert, NewInboxEntry, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

/// The most events one transaction takes.
const MAX_BATCH: usize = 256;

/// Why an event was not stored. Either way nothing was committed for it, and its request must not
/// be answered 200.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InboxError {
    /// The batch holding the event failed to commit (shared by every request of the batch).
    #[error("the inbox write failed: {0}")]
    Store(Arc<StoreError>),
    /// The writer's loop is not running (the daemon is stopping, or the loop is being restarted
    /// and its queue was dropped).
    #[error("the inbox writer has stopped")]
    Stopped,
}

struct Job {
    entry: NewInboxEntry,
    expires_at: i64,
    reply: oneshot::Sender<Result<InboxInsert, InboxError>>,
}

#[derive(Clone)]
pub struct InboxWriter {
    jobs: mpsc::Sender<Job>,
}

/// The writing side: the loop that takes the requests' events and commits them, run by the
/// daemon's supervisor (and started again on the same queue if a run fails).
pub struct WriterLoop {
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    store: Store,
    stored: Option<Arc<Notify>>,
}

impl InboxWriter {
    /// The writer's handle and its loop, which must be run for the handle's inserts to
    /// complete; the loop's run ends when every handle is dropped. `stored`, when given, is
    /// notified after each committed batch (the processor of the same daemon, so a webhook's
    /// change is processed at once rather than at the processor's next idle check).
    pub fn new(store: Store, stored: Option<Arc<Notify>>) -> (InboxWriter, WriterLoop) {
        let (jobs, rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        let writer = WriterLoop {
            jobs: Arc::new(tokio::sync::Mutex::new(rx)),
            store,
            stored,
        };
        (InboxWriter { jobs }, writer)
    }

    /// [`InboxWriter::new`] with its loop on a task of its own, unsupervised.
    pub fn spawn(store: Store, stored: Option<Arc<Notify>>) -> InboxWriter {
        let (writer, run) = InboxWriter::new(store, stored);
        tokio::spawn(run.run());
        writer
    }
}

impl WriterLoop {
    /// One run of the loop: commits batches until every [`InboxWriter`] is dropped. A run that
    /// fails midway drops its batch unanswered (those requests get an error, never a 200); the
    /// next run goes on with the queue.
    pub fn run(&self) -> impl Future<Output = ()> + Send + use<> {
        let (jobs, store, stored) = (self.jobs.clone(), self.store.clone(), self.stored.clone());
        async move {
            let mut rx = jobs.lock().await;
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
                        let e = Arc::new(e);
                        for job in batch.drain(..) {
                            let _ = job.reply.send(Err(InboxError::Store(e.clone())));
                        }
                    }
                }
            }
        }
    }
}

impl InboxWriter {
    /// Stores `entry` (or finds it a duplicate) and returns once that is committed.
    pub async fn insert(
        &self,
        entry: NewInboxEntry,
        expires_at: i64,
    ) -> Result<InboxInsert, InboxError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                entry,
                expires_at,
                reply,
            })
            .await
            .map_err(|_| InboxError::Stopped)?;
        answer.await.map_err(|_| InboxError::Stopped)?
    }
}
