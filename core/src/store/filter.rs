//! The chat-list filters (A2–A5) and the bucket arithmetic behind them.
//!
//! Each chat falls in one *bucket*: its app, kind, assignee class (nobody,
//! me, someone else) and status class (open and read, unread, closed). The
//! schema computes `bucket` as a generated column and keeps a count per
//! bucket, so any filter is a set of buckets: its live counts are a sum of a
//! few integers, and the list query knows in advance how many rows match.

use crate::model::{App, Chat, ChatKind, ChatState, ChatStatus, MemberId};
use serde::{Deserialize, Serialize};

/// A4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssigneeFilter {
    #[default]
    All,
    /// Chats assigned to the logged-in member ("me", see `Store::set_me`).
    Mine,
    Unassigned,
}

/// A5: which status list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    #[default]
    All,
    /// Unfinished chats, unread ones included.
    Open,
    /// Open chats with unread subscriber messages.
    Unread,
    Closed,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 4] = [
        StatusFilter::All,
        StatusFilter::Open,
        StatusFilter::Unread,
        StatusFilter::Closed,
    ];

    pub fn matches(self, status: ChatStatus) -> bool {
        match self {
            StatusFilter::All => true,
            StatusFilter::Open => status != ChatStatus::Closed,
            StatusFilter::Unread => status == ChatStatus::Unread,
            StatusFilter::Closed => status == ChatStatus::Closed,
        }
    }
}

/// Which chats a list shows (A2–A6). The default shows every chat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatFilter {
    /// A2: one messaging app, or all.
    pub app: Option<App>,
    /// A3: personal or group chats, or both.
    pub kind: Option<ChatKind>,
    pub assignee: AssigneeFilter,
    pub status: StatusFilter,
    /// A6: words the agent typed; each must start a word of the chat's
    /// name. Empty or symbols only: no name condition.
    pub search: Option<String>,
}

/// A5: the live counts of the four status lists under the other filters
/// (app, type, assignee; the search text does not narrow them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatusCounts {
    pub open: u64,
    pub unread: u64,
    pub closed: u64,
    pub all: u64,
}

/// 0 unassigned, 1 me, 2 someone else.
pub(crate) fn assignee_class(assignee: Option<&MemberId>, me: Option<&MemberId>) -> i64 {
    match (assignee, me) {
        (None, _) => 0,
        (Some(a), Some(m)) if a == m => 1,
        (Some(_), _) => 2,
    }
}

/// 0 open and read, 1 unread, 2 closed: the schema's CASE expression.
pub(crate) fn status_class(chat: &Chat) -> i64 {
    match (chat.state, chat.unread_count) {
        (ChatState::Closed, _) => 2,
        (ChatState::Open, 0) => 0,
        (ChatState::Open, _) => 1,
    }
}

/// The schema's `bucket` expression, in Rust.
pub(crate) fn bucket(app: App, kind: ChatKind, aclass: i64, sclass: i64) -> i64 {
    i64::from(app.code()) * 18 + i64::from(kind.code()) * 9 + aclass * 3 + sclass
}

pub(crate) fn bucket_of(chat: &Chat, me: Option<&MemberId>) -> i64 {
    bucket(
        chat.app,
        chat.kind,
        assignee_class(chat.assignee.as_ref(), me),
        status_class(chat),
    )
}

impl ChatFilter {
    fn aclasses(&self) -> &'static [i64] {
        match self.assignee {
            AssigneeFilter::All => &[0, 1, 2],
            AssigneeFilter::Mine => &[1],
            AssigneeFilter::Unassigned => &[0],
        }
    }

    fn apps(&self) -> Vec<App> {
        self.app.map_or_else(|| App::ALL.to_vec(), |a| vec![a])
    }

    fn kinds(&self) -> Vec<ChatKind> {
        self.kind
            .map_or_else(|| ChatKind::ALL.to_vec(), |k| vec![k])
    }

    /// Buckets matching app, kind and assignee, for each status class.
    pub(crate) fn buckets_by_status_class(&self) -> [Vec<i64>; 3] {
        let mut out: [Vec<i64>; 3] = Default::default();
        for app in self.apps() {
            for kind in self.kinds() {
                for &a in self.aclasses() {
                    for (s, v) in out.iter_mut().enumerate() {
                        v.push(bucket(app, kind, a, s as i64));
                    }
                }
            }
        }
        out
    }

    /// Every bucket this filter's list shows (ignoring search).
    pub(crate) fn buckets(&self) -> Vec<i64> {
        let [read, unread, closed] = self.buckets_by_status_class();
        let mut v = match self.status {
            StatusFilter::All => [read, unread, closed].concat(),
            StatusFilter::Open => [read, unread].concat(),
            StatusFilter::Unread => unread,
            StatusFilter::Closed => closed,
        };
        v.sort_unstable();
        v
    }

    /// The folded search words, if the filter searches.
    pub(crate) fn search_words(&self) -> Vec<String> {
        self.search
            .as_deref()
            .map(super::fold::words)
            .unwrap_or_default()
    }

    /// Every combination of the A2-A5 filters (no search): 7 apps (or
    /// all) x 3 kinds x 3 assignee filters x 4 status lists. For tests and
    /// benchmarks that must cover them all.
    pub fn combinations() -> Vec<ChatFilter> {
        let mut out = Vec::new();
        for app in std::iter::once(None).chain(App::ALL.map(Some)) {
            for kind in [None, Some(ChatKind::Personal), Some(ChatKind::Group)] {
                for assignee in [
                    AssigneeFilter::All,
                    AssigneeFilter::Mine,
                    AssigneeFilter::Unassigned,
                ] {
                    for status in StatusFilter::ALL {
                        out.push(ChatFilter {
                            app,
                            kind,
                            assignee,
                            status,
                            search: None,
                        });
                    }
                }
            }
        }
        out
    }

    /// The filter in the form `matches` and the queries use.
    pub(crate) fn compile(&self) -> CompiledFilter {
        CompiledFilter {
            buckets: self.buckets(),
            words: self.search_words(),
        }
    }
}

/// A filter reduced to its bucket set and folded search words.
#[derive(Clone, Debug)]
pub(crate) struct CompiledFilter {
    pub buckets: Vec<i64>,
    pub words: Vec<String>,
}

impl CompiledFilter {
    /// Whether a chat passes: the same rules as the SQL, used by `observe`
    /// to place a changed row without querying.
    pub(crate) fn matches(&self, chat: &Chat, me: Option<&MemberId>) -> bool {
        if self.buckets.binary_search(&bucket_of(chat, me)).is_err() {
            return false;
        }
        if self.words.is_empty() {
            return true;
        }
        let name = super::fold::folded_name(&chat.title);
        self.words.iter().all(|w| name.contains(&format!(" {w}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_partition_the_space() {
        // 6 apps x 2 kinds x 3 assignee classes x 3 status classes, distinct.
        let all = ChatFilter::default().buckets();
        assert_eq!(all.len(), 108);
        let mut d = all.clone();
        d.dedup();
        assert_eq!(d, all);
        assert_eq!(*all.first().unwrap(), 0);
        assert_eq!(*all.last().unwrap(), 107);
    }

    #[test]
    fn a5_unread_is_a_subset_of_open() {
        let f = |status| ChatFilter {
            status,
            ..Default::default()
        };
        let open = f(StatusFilter::Open).buckets();
        for b in f(StatusFilter::Unread).buckets() {
            assert!(open.contains(&b));
        }
        for b in f(StatusFilter::Closed).buckets() {
            assert!(!open.contains(&b));
        }
    }
}
