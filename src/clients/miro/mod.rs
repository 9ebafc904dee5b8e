//! The Miro REST client: items by cursor, items by type (the only reads that include `style`),
//! typed creates, partial updates and deletes, and tags. Every answer's credit headers feed a
//! budget, so the client waits for the next window rather than drawing a 429 in steady state.
//!
//! `client.rs` holds the client, its budget and how answers are judged; each group of endpoints
//! has a file of its own (`items.rs`, `content_log.rs`, `subscriptions.rs`, `tags.rs`,
//! `connectors.rs`), importing the client from `client.rs`, never from here. This file only
//! re-exports, so `crate::clients::miro::X` names each item the rest of the crate uses.

mod client;
mod connectors;
mod content_log;
mod items;
mod subscriptions;
mod tags;

pub(crate) use client::MiroClient;
pub(crate) use content_log::{CONTENT_LOG_BOARDS, ContentLogEntry};
pub(crate) use items::MiroItem;
pub(crate) use tags::Tag;
