//! The Miro REST client: items by cursor, items by type (the only reads that include `style`),
//! typed creates, partial updates and deletes, and tags. Every answer's credit headers feed a
//! budget, so the client waits for the next window rather than drawing a 429 in steady state.
//!
//! `client.rs` holds the client, its budget and how answers are judged; each group of endpoints
//! has a file of its own (`items.rs`, `content_log.rs`, `subscriptions.rs`, `tags.rs`,
//! `connectors.rs`), importing the client from `client.rs`, never from here. This file only
//! re-exports, so `crate::clients::miro::X` names each public item.

mod client;
mod connectors;
mod content_log;
mod items;
mod subscriptions;
mod tags;

pub use client::{LEVEL_1, LEVEL_2, LEVEL_3, LEVEL_4, MiroClient, PAGE_LIMIT, Purpose, classify};
pub use connectors::{Connector, ConnectorEnd};
pub use content_log::{CONTENT_LOG_BOARDS, CONTENT_LOG_LIMIT, ContentLogEntry, ContentLogPage};
pub use items::{ItemPage, MiroItem};
pub use subscriptions::BoardSubscription;
pub use tags::Tag;
