//! The GraphQL schema: a subset of monday's 2026-10 schema with the same type, field, argument and
//! enum names and the same types (the conformance suite checks this against the published SDL).
//! Objects are views read from the state when resolved; mutations change the state through
//! `ops` and report what happened to webhook subscribers.

use super::model::{self, State as Data};
use super::{Call, MondayCtx, app_error};
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, InputValueError, InputValueResult, Interface,
    Json, Object, Result, Scalar, ScalarType, SimpleObject, Value as GqlValue,
};
use serde_json::Value;

/// monday's `Date` scalar: an ISO 8601 string.
#[derive(Clone, Debug)]
pub(crate) struct Date(pub String);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: GqlValue) -> InputValueResult<Self> {
        match value {
            GqlValue::String(s) => Ok(Date(s)),
            other => Err(InputValueError::expected_type(other)),
        }
    }
    fn to_value(&self) -> GqlValue {
        GqlValue::String(self.0.clone())
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "snake_case")]
pub(crate) enum ColumnType {
    Name,
    Text,
    LongText,
    Status,
    Date,
    People,
    Tags,
    Dependency,
    Numbers,
    BoardRelation,
}

impl ColumnType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ColumnType::Name => "name",
            ColumnType::Text => "text",
            ColumnType::LongText => "long_text",
            ColumnType::Status => "status",
            ColumnType::Date => "date",
            ColumnType::People => "people",
            ColumnType::Tags => "tags",
            ColumnType::Dependency => "dependency",
            ColumnType::Numbers => "numbers",
            ColumnType::BoardRelation => "board_relation",
        }
    }

    fn parse(s: &str) -> ColumnType {
        [
            ColumnType::Name,
            ColumnType::Text,
            ColumnType::LongText,
            ColumnType::Status,
            ColumnType::Date,
            ColumnType::People,
            ColumnType::Tags,
            ColumnType::Dependency,
            ColumnType::Numbers,
            ColumnType::BoardRelation,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .unwrap_or(ColumnType::Text)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "snake_case")]
pub(crate) enum BoardKind {
    Private,
    Public,
    Share,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "snake_case")]
pub(crate) enum State {
    Active,
    All,
    Archived,
    Deleted,
}

impl State {
    fn of(s: &str) -> State {
        match s {
            "archived" => State::Archived,
            "deleted" => State::Deleted,
            _ => State::Active,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "snake_case")]
pub(crate) enum WebhookEventType {
    ChangeColumnValue,
    ChangeName,
    ChangeSpecificColumnValue,
    ChangeStatusColumnValue,
    CreateItem,
    CreateUpdate,
    ItemArchived,
    ItemDeleted,
}

impl WebhookEventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::ChangeColumnValue => "change_column_value",
            WebhookEventType::ChangeName => "change_name",
            WebhookEventType::ChangeSpecificColumnValue => "change_specific_column_value",
            WebhookEventType::ChangeStatusColumnValue => "change_status_column_value",
            WebhookEventType::CreateItem => "create_item",
            WebhookEventType::CreateUpdate => "create_update",
            WebhookEventType::ItemArchived => "item_archived",
            WebhookEventType::ItemDeleted => "item_deleted",
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Account {
    pub id: ID,
    pub name: String,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct User {
    pub id: ID,
    pub name: String,
    pub email: String,
    pub account: Account,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Complexity {
    pub before: i32,
    pub after: i32,
    pub query: i32,
    pub reset_in_x_seconds: i32,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Group {
    pub id: ID,
    pub title: String,
    pub color: String,
    pub position: String,
    pub archived: Option<bool>,
    pub deleted: Option<bool>,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Column {
    pub id: ID,
    pub title: String,
    #[graphql(name = "type")]
    pub kind: ColumnType,
    pub settings_str: String,
    pub archived: bool,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Update {
    pub id: ID,
    pub body: String,
    pub text_body: Option<String>,
    pub created_at: Option<Date>,
    pub creator_id: Option<String>,
    pub item_id: Option<String>,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Tag {
    pub id: ID,
    pub name: String,
    pub color: String,
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct Webhook {
    pub id: ID,
    pub board_id: ID,
    pub event: WebhookEventType,
    pub config: Option<String>,
}

#[derive(InputObject)]
#[graphql(rename_fields = "snake_case")]
pub(crate) struct ItemsQuery {
    pub ids: Option<Vec<ID>>,
}

/// Declares the `ColumnValue` implementations the sandbox returns: the common fields of the
/// interface, plus any typed extras.
macro_rules! column_values {
    ($($variant:ident($name:ident) { $($extra:ident : $ty:ty),* })*) => {
        $(
            #[derive(SimpleObject, Clone)]
            #[graphql(rename_fields = "snake_case")]
            pub struct $name {
                pub id: ID,
                #[graphql(name = "type")]
                pub kind: ColumnType,
                pub text: Option<String>,
                pub value: Option<Json<Value>>,
                pub column: Column,
                $(pub $extra: $ty,)*
            }
        )*

        #[derive(Interface, Clone)]
        #[graphql(
            name = "ColumnValue",
            field(name = "id", ty = "&ID"),
            field(name = "type", method = "kind", ty = "&ColumnType"),
            field(name = "text", ty = "&Option<String>"),
            field(name = "value", ty = "&Option<Json<Value>>"),
            field(name = "column", ty = "&Column"),
        )]
        pub enum ColumnValue {
            $($variant($name),)*
        }
    };
}

column_values! {
    Text(TextValue) {}
    LongText(LongTextValue) {}
    Status(StatusValue) { index: Option<i32>, label: Option<String>, is_done: Option<bool> }
    Date(DateValue) {}
    People(PeopleValue) {}
    Tags(TagsValue) { tag_ids: Vec<i32>, tags: Vec<Tag> }
    Dependency(DependencyValue) { linked_item_ids: Vec<ID> }
    Numbers(NumbersValue) {}
    BoardRelation(BoardRelationValue) { linked_item_ids: Vec<ID> }
}

pub(crate) fn column(c: &model::Column) -> Column {
    let settings = if c.kind == "status" {
        serde_json::json!({ "labels": c.labels.iter().map(|(i, l)| (i.to_string(), serde_json::Value::String(l.clone()))).collect::<serde_json::Map<_, _>>() })
    } else {
        serde_json::json!({})
    };
    Column {
        id: ID(c.id.clone()),
        title: c.title.clone(),
        kind: ColumnType::parse(&c.kind),
        settings_str: settings.to_string(),
        archived: false,
    }
}

/// The ids a stored dependency or board_relation value links to.
fn linked_item_ids(stored: Option<&Value>) -> Vec<ID> {
    stored
        .and_then(|v| v["linkedPulseIds"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| crate::domain::change::id_text(&l["linkedPulseId"]))
        .map(ID)
        .collect()
}

fn column_value(c: &model::Column, stored: Option<&Value>, tags: &[model::Tag]) -> ColumnValue {
    let text = c.text(stored, tags);
    // `value` is JSON text, as monday returns it: `"{\"index\":1,...}"`.
    let value = stored.map(|v| Json(Value::String(v.to_string())));
    let (id, kind, column) = (ID(c.id.clone()), ColumnType::parse(&c.kind), column(c));
    match c.kind.as_str() {
        "status" => {
            let index = stored.and_then(|v| v["index"].as_i64()).map(|i| i as i32);
            ColumnValue::Status(StatusValue {
                id,
                kind,
                label: text.clone(),
                text,
                value,
                column,
                is_done: index.map(|i| i == 1),
                index,
            })
        }
        "long_text" => ColumnValue::LongText(LongTextValue {
            id,
            kind,
            text,
            value,
            column,
        }),
        "date" => ColumnValue::Date(DateValue {
            id,
            kind,
            text,
            value,
            column,
        }),
        "people" => ColumnValue::People(PeopleValue {
            id,
            kind,
            text,
            value,
            column,
        }),
        "tags" => {
            let ids = stored
                .and_then(|v| v["tag_ids"].as_array().cloned())
                .unwrap_or_default();
            let tag_ids = ids
                .iter()
                .filter_map(|t| t.as_i64().map(|t| t as i32))
                .collect();
            let tags = ids
                .iter()
                .filter_map(|id| tags.iter().find(|t| serde_json::json!(t.id) == *id))
                .map(|t| Tag {
                    id: ID(t.id.to_string()),
                    name: t.name.clone(),
                    color: t.color.clone(),
                })
                .collect();
            ColumnValue::Tags(TagsValue {
                id,
                kind,
                text,
                value,
                column,
                tag_ids,
                tags,
            })
        }
        // Since 2023-10 these columns have no `text`: their items are in `linked_item_ids`.
        "dependency" => ColumnValue::Dependency(DependencyValue {
            id,
            kind,
            text: None,
            value,
            column,
            linked_item_ids: linked_item_ids(stored),
        }),
        "numbers" => ColumnValue::Numbers(NumbersValue {
            id,
            kind,
            text,
            value,
            column,
        }),
        "board_relation" => ColumnValue::BoardRelation(BoardRelationValue {
            id,
            kind,
            text: None,
            value,
            column,
            linked_item_ids: linked_item_ids(stored),
        }),
        _ => ColumnValue::Text(TextValue {
            id,
            kind,
            text,
            value,
            column,
        }),
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case", complex)]
pub(crate) struct Board {
    pub id: ID,
    pub name: String,
    pub state: State,
    pub board_kind: BoardKind,
    #[graphql(skip)]
    pub key: u64,
}

pub(crate) fn board(b: &model::Board) -> Board {
    Board {
        id: ID(b.id.to_string()),
        name: b.name.clone(),
        state: State::Active,
        board_kind: match b.kind.as_str() {
            "private" => BoardKind::Private,
            "share" => BoardKind::Share,
            _ => BoardKind::Public,
        },
        key: b.id,
    }
}

fn group(g: &model::Group, position: usize) -> Group {
    Group {
        id: ID(g.id.clone()),
        title: g.title.clone(),
        color: g.color.clone(),
        position: format!("{}.0", 65536 * (position + 1)),
        archived: Some(false),
        deleted: Some(false),
    }
}

fn lock<'a>(ctx: &'a Context<'_>) -> std::sync::MutexGuard<'a, Data> {
    ctx.data_unchecked::<MondayCtx>()
        .state
        .lock()
        .expect("monday state")
}

#[ComplexObject(rename_fields = "snake_case", rename_args = "snake_case")]
impl Board {
    async fn groups(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<Option<String>>>,
    ) -> Option<Vec<Option<Group>>> {
        let state = lock(ctx);
        let b = state.boards.get(&self.key)?;
        let wanted: Option<Vec<String>> = ids.map(|i| i.into_iter().flatten().collect());
        Some(
            b.groups
                .iter()
                .enumerate()
                .filter(|(_, g)| wanted.as_ref().is_none_or(|w| w.contains(&g.id)))
                .map(|(i, g)| Some(group(g, i)))
                .collect(),
        )
    }

    async fn columns(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<Option<String>>>,
        types: Option<Vec<ColumnType>>,
    ) -> Option<Vec<Option<Column>>> {
        let state = lock(ctx);
        let b = state.boards.get(&self.key)?;
        let wanted: Option<Vec<String>> = ids.map(|i| i.into_iter().flatten().collect());
        Some(
            b.columns
                .iter()
                .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.id)))
                .filter(|c| {
                    types
                        .as_ref()
                        .is_none_or(|t| t.contains(&ColumnType::parse(&c.kind)))
                })
                .map(|c| Some(column(c)))
                .collect(),
        )
    }

    async fn items_page(
        &self,
        ctx: &Context<'_>,
        cursor: Option<String>,
        #[graphql(default = 25)] limit: i32,
        query_params: Option<ItemsQuery>,
    ) -> Result<super::pages::ItemsResponse> {
        super::pages::first_page(
            ctx,
            self.key,
            cursor,
            limit,
            query_params.and_then(|q| q.ids),
        )
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(rename_fields = "snake_case", complex)]
pub(crate) struct Item {
    pub id: ID,
    pub name: String,
    pub created_at: Option<Date>,
    pub updated_at: Option<Date>,
    pub state: Option<State>,
    pub creator_id: String,
    #[graphql(skip)]
    pub key: u64,
}

pub(crate) fn item(i: &model::Item) -> Item {
    Item {
        id: ID(i.id.to_string()),
        name: i.name.clone(),
        created_at: Some(Date(i.created_at.clone())),
        updated_at: Some(Date(i.updated_at.clone())),
        state: Some(State::of(i.state)),
        creator_id: i.creator_id.to_string(),
        key: i.id,
    }
}

#[ComplexObject(rename_fields = "snake_case", rename_args = "snake_case")]
impl Item {
    async fn column_values(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<String>>,
        types: Option<Vec<ColumnType>>,
    ) -> Vec<ColumnValue> {
        let state = lock(ctx);
        let Some((b, i)) = state.item(self.key) else {
            return Vec::new();
        };
        b.columns
            .iter()
            .filter(|c| c.kind != "name")
            .filter(|c| ids.as_ref().is_none_or(|w| w.contains(&c.id)))
            .filter(|c| {
                types
                    .as_ref()
                    .is_none_or(|t| t.contains(&ColumnType::parse(&c.kind)))
            })
            .map(|c| column_value(c, i.values.get(&c.id), &state.tags))
            .collect()
    }

    async fn group(&self, ctx: &Context<'_>) -> Option<Group> {
        let state = lock(ctx);
        let (b, i) = state.item(self.key)?;
        b.groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.id == i.group)
            .map(|(n, g)| group(g, n))
    }

    async fn board(&self, ctx: &Context<'_>) -> Option<Board> {
        let state = lock(ctx);
        state.item(self.key).map(|(b, _)| board(b))
    }

    async fn updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(25)")] limit: Option<i32>,
        #[graphql(default_with = "Some(1)")] page: Option<i32>,
    ) -> Option<Vec<Update>> {
        let state = lock(ctx);
        let (_, i) = state.item(self.key)?;
        let (limit, page) = (
            limit.unwrap_or(25).max(1) as usize,
            page.unwrap_or(1).max(1) as usize,
        );
        Some(
            i.updates
                .iter()
                .rev()
                .skip((page - 1) * limit)
                .take(limit)
                .map(|u| update(u, i.id))
                .collect(),
        )
    }
}

pub(crate) fn update(u: &model::Update, item: u64) -> Update {
    Update {
        id: ID(u.id.to_string()),
        body: u.body.clone(),
        text_body: Some(strip_tags(&u.body)),
        created_at: Some(Date(u.created_at.clone())),
        creator_id: Some(u.creator_id.to_string()),
        item_id: Some(item.to_string()),
    }
}

/// The plain text of an update body (monday's `text_body`).
pub(crate) fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

pub(crate) struct Query;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl Query {
    async fn me(&self, ctx: &Context<'_>) -> Option<User> {
        let user = &ctx.data_unchecked::<Call>().user;
        Some(User {
            id: ID(user.monday_id.to_string()),
            name: user.name.clone(),
            email: format!("{}@sandbox.invalid", user.name),
            account: Account {
                id: ID(user.monday_account_id.to_string()),
                name: "Sandbox".into(),
            },
        })
    }

    async fn complexity(&self, ctx: &Context<'_>) -> Option<Complexity> {
        let call = ctx.data_unchecked::<Call>();
        Some(Complexity {
            before: call.budget_before as i32,
            query: call.cost as i32,
            after: (call.budget_before - call.cost as i64) as i32,
            reset_in_x_seconds: call.reset_in as i32,
        })
    }

    async fn boards(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        #[graphql(default_with = "Some(25)")] limit: Option<i32>,
        #[graphql(default_with = "Some(1)")] page: Option<i32>,
    ) -> Option<Vec<Option<Board>>> {
        let state = lock(ctx);
        let (limit, page) = (
            limit.unwrap_or(25).max(1) as usize,
            page.unwrap_or(1).max(1) as usize,
        );
        Some(
            state
                .boards
                .values()
                .filter(|b| {
                    ids.as_ref()
                        .is_none_or(|ids| ids.iter().any(|i| i.as_str() == b.id.to_string()))
                })
                .skip((page - 1) * limit)
                .take(limit)
                .map(|b| Some(board(b)))
                .collect(),
        )
    }

    async fn items(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        #[graphql(default_with = "Some(25)")] limit: Option<i32>,
    ) -> Option<Vec<Option<Item>>> {
        let state = lock(ctx);
        let ids = ids.unwrap_or_default();
        Some(
            ids.iter()
                .filter_map(|i| i.parse::<u64>().ok())
                .filter_map(|i| {
                    state
                        .item(i)
                        .filter(|(_, it)| it.state != "deleted")
                        .map(|(_, it)| Some(item(it)))
                })
                .take(limit.unwrap_or(25).max(1) as usize)
                .collect(),
        )
    }

    async fn next_items_page(
        &self,
        ctx: &Context<'_>,
        cursor: String,
        #[graphql(default = 25)] limit: i32,
    ) -> Result<super::pages::ItemsResponse> {
        super::pages::next_page(ctx, &cursor, limit)
    }

    async fn webhooks(&self, ctx: &Context<'_>, board_id: ID) -> Option<Vec<Option<Webhook>>> {
        let state = lock(ctx);
        Some(
            state
                .webhooks
                .values()
                .filter(|w| w.board.to_string() == board_id.as_str())
                .map(|w| Some(super::ops::webhook(w)))
                .collect(),
        )
    }

    async fn tags(&self, ctx: &Context<'_>, ids: Option<Vec<ID>>) -> Option<Vec<Option<Tag>>> {
        let state = lock(ctx);
        Some(
            state
                .tags
                .iter()
                .filter(|t| {
                    ids.as_ref()
                        .is_none_or(|ids| ids.iter().any(|i| i.as_str() == t.id.to_string()))
                })
                .map(|t| {
                    Some(Tag {
                        id: ID(t.id.to_string()),
                        name: t.name.clone(),
                        color: t.color.clone(),
                    })
                })
                .collect(),
        )
    }
}

pub(crate) fn not_found(what: &str) -> async_graphql::Error {
    app_error("ResourceNotFoundException", &format!("{what} not found"))
}
