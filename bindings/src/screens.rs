//! The screens' further reads (issue 13 §1), in one block so that the
//! other parts of `RapportClient` stay as they were: the subscriber card
//! (F1–F8), its deals and CRM contact (G1–G3), flows search (F6), the
//! Viber month's use (E6), and the small reads the console has and the apps
//! lacked (the member "mine" means, unsent commands, one timeline item).
//!
//! Mutations are not here: starting or stopping a flow, editing variables,
//! tags, the CRM contact, deals and notes are `Action`s through
//! `run_action`/`check_action`, as in the console.

use crate::client::RapportClient;
use crate::error::Result;
use rapport_core::model::{
    ActiveFlow, AdRef, App, BotId, ChatId, CrmContact, Deal, DealId, GroupInfo, InstagramFollow,
    MemberId, MessageId, Named, NoteId, Subscriber, SubscriberId, SubscriptionStatus, Timestamp,
};
use rapport_core::policy::viber::ViberMonth;
use rapport_core::store::{TimelineItem, TimelineItemId};
use std::collections::{BTreeMap, HashMap};

/// The card's variables (F5) as a map UniFFI knows (a `Map` in Kotlin, a
/// `Dictionary` in Swift).
pub type Variables = BTreeMap<String, String>;

uniffi::custom_type!(Variables, HashMap<String, String>, {
    remote,
    lower: |m| m.into_iter().collect(),
    try_lift: |m| Ok(m.into_iter().collect()),
});

#[uniffi::remote(Enum)]
pub enum SubscriptionStatus {
    Active,
    Unsubscribed,
    Disabled,
}

#[uniffi::remote(Record)]
pub struct GroupInfo {
    pub member_count: u32,
    pub share_link: Option<String>,
    pub invite_link: Option<String>,
}

#[uniffi::remote(Record)]
pub struct InstagramFollow {
    pub follows_business: bool,
    pub business_follows: bool,
}

#[uniffi::remote(Record)]
pub struct ActiveFlow {
    pub flow_id: String,
    pub name: String,
    pub queued_messages: u32,
}

#[uniffi::remote(Record)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub bot_id: BotId,
    pub app: App,
    pub name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: SubscriptionStatus,
    pub subscribed_at: Timestamp,
    pub last_activity_at: Option<Timestamp>,
    pub group: Option<GroupInfo>,
    pub instagram: Option<InstagramFollow>,
    pub ad_source: Option<AdRef>,
    pub variables: Variables,
    pub tags: Vec<String>,
    pub active_flow: Option<ActiveFlow>,
    pub crm_contact: Option<CrmContact>,
}

#[uniffi::remote(Record)]
pub struct Deal {
    pub id: DealId,
    pub subscriber_id: SubscriberId,
    pub pipeline: Named,
    pub stage: Named,
    pub name: String,
    pub amount_minor: i64,
    pub currency: String,
    pub responsible: Option<MemberId>,
    pub url: Option<String>,
    pub updated_at: Timestamp,
}

#[uniffi::remote(Enum)]
pub enum ViberMonth {
    Free { left: u32, used: u32 },
    Paid { free_quota: bool, used: u32 },
}

#[uniffi::remote(Enum)]
pub enum TimelineItemId {
    Message(MessageId),
    Note(NoteId),
}

/// F6: a flow a subscriber can be started on. (The core's `wire::Flow`,
/// named so that it does not clash with Kotlin's `Flow`.)
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct BotFlow {
    pub id: String,
    pub name: String,
}

#[uniffi::export]
impl RapportClient {
    /// F1–F8, G2: a subscriber's card (name, username, avatar, email and
    /// phone, status, group info, Instagram follow state, ad source,
    /// variables, tags, the active flow with its queued messages, the CRM
    /// contact), from the store. `None` if the store has no such card.
    pub fn subscriber(&self, id: SubscriberId) -> Result<Option<Subscriber>> {
        Ok(self.client()?.subscriber(&id)?)
    }

    /// G1–G3: a subscriber's deals, most recently updated first.
    pub fn deals(&self, subscriber: SubscriberId) -> Result<Vec<Deal>> {
        Ok(self.client()?.deals(&subscriber)?)
    }

    /// G3: one deal (`None` if the store has no such deal).
    pub fn deal(&self, id: DealId) -> Result<Option<Deal>> {
        Ok(self.client()?.deal(&id)?)
    }

    /// F6: the flows whose name contains `query` (case-insensitive; all
    /// when empty), from the server. Start one with
    /// `Action.EditSubscriber` and `flowId`, stop it with `flowId = ""`.
    pub async fn search_flows(&self, query: String) -> Result<Vec<BotFlow>> {
        let flows = self.client()?.search_flows(&query).await?;
        Ok(flows
            .into_iter()
            .map(|f| BotFlow {
                id: f.id,
                name: f.name,
            })
            .collect())
    }

    /// E6: the Viber month of a chat's bot now ("N free bot-initiated
    /// messages left this month" or "paid"); `None` outside Viber,
    /// `UnknownChat` for a chat the store lacks.
    pub fn viber_month(&self, chat: ChatId) -> Result<Option<ViberMonth>> {
        Ok(self.client()?.viber_month(&chat)?)
    }

    /// E6: the same for a bot; `None` unless the store knows it as a
    /// Viber bot.
    pub fn viber_bot_month(&self, bot: BotId) -> Result<Option<ViberMonth>> {
        Ok(self.client()?.viber_bot_month(&bot)?)
    }

    /// A4: the member "mine" means (the logged-in one); `None` before the
    /// first login.
    pub fn me(&self) -> Result<Option<MemberId>> {
        Ok(self.client()?.me())
    }

    /// S5: how many commands are not yet confirmed (a logout drops them:
    /// the screen warns first).
    pub fn unsent_commands(&self) -> Result<u64> {
        Ok(self.client()?.unsent_commands()?)
    }

    /// B1/C1: one timeline item by id (a message's delivery state, a note
    /// being edited); `None` if the chat has no such item.
    pub fn timeline_item(&self, chat: ChatId, id: TimelineItemId) -> Result<Option<TimelineItem>> {
        Ok(self.client()?.timeline_item(&chat, &id)?)
    }
}
