use super::{AdRef, App, BotId, DealId, MemberId, SubscriberId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The subscriber card (F1–F8), kept in the store for offline reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscriber {
    pub id: SubscriberId,
    pub bot_id: BotId,
    pub app: App,
    /// F1: name (or the group's title), username and avatar.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// F1: email and phone are kept as variables on the platform; the card
    /// shows them apart. Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// F2 (and F8: `Disabled`).
    pub status: SubscriptionStatus,
    pub subscribed_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<Timestamp>,
    /// F1: Telegram groups only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupInfo>,
    /// F3: Instagram only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<InstagramFollow>,
    /// F4: the ad campaign the subscriber came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_source: Option<AdRef>,
    /// F5: variables and tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// F6: the flow running now, with its queued messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_flow: Option<ActiveFlow>,
    /// G2: the linked CRM contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_contact: Option<CrmContact>,
}

/// F2/F8: bot subscription status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    Active,
    Unsubscribed,
    /// F8: an agent disabled the subscriber; the bot stops messaging them.
    Disabled,
}

/// F1: what a Telegram group's card shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    pub member_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<String>,
}

/// F3: the follow relation on Instagram, both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstagramFollow {
    pub follows_business: bool,
    pub business_follows: bool,
}

/// F6: the active flow and how many of its messages are queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveFlow {
    pub flow_id: String,
    pub name: String,
    pub queued_messages: u32,
}

/// G2: the CRM contact linked to a subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrmContact {
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A name with its id: a pipeline or a stage of one (G1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// G1/G3: a CRM deal of a subscriber's contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deal {
    pub id: DealId,
    pub subscriber_id: SubscriberId,
    pub pipeline: Named,
    pub stage: Named,
    pub name: String,
    /// In minor units of `currency` (cents), so amounts never round.
    pub amount_minor: i64,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responsible: Option<MemberId>,
    /// G3: the deal card on the web.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub updated_at: Timestamp,
}
