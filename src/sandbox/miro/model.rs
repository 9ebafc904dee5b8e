//! The Miro sandbox's state: boards with their items, tags and connectors, the content log, and
//! webhook subscriptions, plus how each renders in the REST API's shapes. Handlers lock the state,
//! change it and render; nothing here does I/O.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The item types the sandbox serves, with the REST collection each lives under.
pub(crate) const TYPES: [(&str, &str); 6] = [
    ("sticky_note", "sticky_notes"),
    ("card", "cards"),
    ("app_card", "app_cards"),
    ("shape", "shapes"),
    ("text", "texts"),
    ("frame", "frames"),
];

pub(crate) fn type_of_collection(collection: &str) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(_, c)| *c == collection)
        .map(|(t, _)| *t)
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub id: String,
    pub kind: &'static str,
    pub data: Value,
    pub style: Value,
    pub position: Value,
    pub geometry: Value,
    pub parent: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub modified_at: String,
    pub modified_by: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub id: String,
    pub title: String,
    pub fill_color: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Connector {
    pub id: String,
    pub start: Value,
    pub end: Value,
    pub shape: String,
    pub style: Value,
    pub captions: Value,
    pub created_at: String,
    pub created_by: String,
    pub modified_at: String,
    pub modified_by: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub owner: String,
    pub modified_at: String,
    pub modified_by: String,
    /// By id; ids grow, so this is creation order.
    pub items: BTreeMap<u64, Item>,
    pub tags: BTreeMap<u64, Tag>,
    pub connectors: BTreeMap<u64, Connector>,
}

#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub id: String,
    pub board: String,
    pub action: &'static str,
    pub at_ms: i64,
    pub at: String,
    pub actor: (String, String),
    pub item_type: &'static str,
    pub item_id: String,
    pub state: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub id: String,
    pub board: String,
    pub callback_url: String,
    pub status: String,
    /// `changes`: shape B of the reference (a change list, hex `X-Miro-Signature`).
    pub shape_b: bool,
    pub created_at: String,
    pub modified_at: String,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub boards: BTreeMap<String, Board>,
    pub log: Vec<LogEntry>,
    pub subscriptions: BTreeMap<String, Subscription>,
    next_id: u64,
}

impl State {
    /// A fresh int64 id, above 2^53 as Miro's are.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        3_458_764_600_000_000_000 + self.next_id
    }

    /// A board id shaped like Miro's (`uXjV` + 7 characters + `=`).
    pub(crate) fn next_board_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        self.next_id += 1;
        let mut n = self.next_id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let tail: String = (0..7)
            .map(|_| {
                let c = ALPHABET[(n % 64) as usize] as char;
                n /= 64;
                c
            })
            .collect();
        format!("uXjV{tail}=")
    }
}

pub(crate) fn user_ref(id: &str) -> Value {
    json!({ "id": id, "type": "user" })
}

impl Item {
    /// The typed shape (`GET /sticky_notes/{id}`); `generic` leaves out `style`, as the generic
    /// item endpoints do.
    pub(crate) fn render(&self, base: &str, board: &str, generic: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "type": self.kind,
            "data": self.data,
            "position": self.position,
            "geometry": self.geometry,
            "createdAt": self.created_at,
            "createdBy": user_ref(&self.created_by),
            "modifiedAt": self.modified_at,
            "modifiedBy": user_ref(&self.modified_by),
        });
        if !generic {
            v["style"] = self.style.clone();
            v["links"] = json!({ "self": format!("{base}/v2/boards/{board}/items/{}", self.id) });
            if self.kind == "frame" {
                v["links"]["related"] = json!(format!(
                    "{base}/v2/boards/{board}/items?parent_item_id={}&limit=10&cursor=",
                    self.id
                ));
            }
        }
        if let Some(parent) = &self.parent {
            v["parent"] = if generic {
                json!({ "id": parent })
            } else {
                json!({ "id": parent, "links": { "self": format!("{base}/v2/boards/{board}/items/{parent}") } })
            };
        }
        v
    }
}

impl Tag {
    pub(crate) fn render(&self, base: &str, board: &str, links: bool) -> Value {
        let mut v = json!({ "id": self.id, "type": "tag", "title": self.title, "fillColor": self.fill_color });
        if links {
            v["links"] = json!({ "self": format!("{base}/v2/boards/{board}/tags/{}", self.id) });
        }
        v
    }
}

impl Connector {
    pub(crate) fn render(&self, base: &str, board: &str) -> Value {
        let end = |item: &Value| {
            let mut v = item.clone();
            if let Some(id) = item["id"].as_str() {
                v["links"] = json!({ "self": format!("{base}/v2/boards/{board}/items/{id}") });
            }
            v
        };
        json!({
            "id": self.id,
            "type": "connector",
            "shape": self.shape,
            "startItem": end(&self.start),
            "endItem": end(&self.end),
            "style": self.style,
            "captions": self.captions,
            "isSupported": true,
            "createdAt": self.created_at,
            "createdBy": user_ref(&self.created_by),
            "modifiedAt": self.modified_at,
            "modifiedBy": user_ref(&self.modified_by),
            "links": { "self": format!("{base}/v2/boards/{board}/connectors/{}", self.id) },
        })
    }
}

impl Board {
    pub(crate) fn render(&self, base: &str) -> Value {
        json!({
            "id": self.id,
            "type": "board",
            "name": self.name,
            "description": self.description,
            "createdAt": self.created_at,
            "createdBy": { "id": self.owner, "type": "user", "name": self.owner },
            "modifiedAt": self.modified_at,
            "modifiedBy": { "id": self.modified_by, "type": "user", "name": self.modified_by },
            "owner": { "id": self.owner, "type": "user", "name": self.owner },
            "viewLink": format!("https://miro.com/app/board/{}", self.id),
            "links": { "self": format!("{base}/v2/boards/{}", self.id), "related": format!("{base}/v2/boards/{}/members?limit=20&offset=0", self.id) },
        })
    }

    pub(crate) fn item_by_str(&self, id: &str) -> Option<&Item> {
        self.items.get(&id.parse::<u64>().ok()?)
    }

    pub(crate) fn item_by_str_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.items.get_mut(&id.parse::<u64>().ok()?)
    }
}

impl Subscription {
    pub(crate) fn render(&self) -> Value {
        json!({
            "id": self.id,
            "type": "board_subscription",
            "callbackUrl": self.callback_url,
            "status": self.status,
            "data": { "boardId": self.board },
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
        })
    }
}
