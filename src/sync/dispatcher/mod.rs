//! The dispatcher: claims due outbox rows, folds the rows of one item into one write, and sends
//! them to Miro (`miro.rs`) and monday (`monday.rs`), with what is special to tags, connectors and
//! comments beside them; retries what can be retried and keeps the rest as dead letters.

mod comments;
mod connectors;
mod created;
mod fold;
mod miro;
mod monday;
mod own_writes;
mod run;
mod tags;

pub use run::run;
