//! D1: who may be assigned a chat. Only members whose role grants
//! "Chatbots: conversations and audience" can be chosen; the same grant
//! lets a member read and answer chats at all.

use super::Refusal;
use crate::model::{Member, MemberId};

/// Whether the member's role grants conversations and audience.
pub fn has_conversations(member: &Member) -> bool {
    member.conversations_access
}

/// Who a chat is being assigned to, as the caller's store knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee<'a> {
    /// Unassigning: always allowed.
    Nobody,
    Member(&'a Member),
    /// An id the workspace does not know.
    Unknown,
}

impl<'a> Assignee<'a> {
    /// Who `id` is among the workspace's `members`.
    pub fn find(id: Option<&MemberId>, members: &'a [Member]) -> Assignee<'a> {
        match id {
            None => Assignee::Nobody,
            Some(id) => members
                .iter()
                .find(|m| &m.id == id)
                .map_or(Assignee::Unknown, Assignee::Member),
        }
    }
}

/// D1: may the chat be assigned to `to`?
pub fn may_assign(to: Assignee<'_>) -> Result<(), Refusal> {
    match to {
        Assignee::Nobody => Ok(()),
        Assignee::Member(m) if has_conversations(m) => Ok(()),
        Assignee::Member(_) | Assignee::Unknown => Err(Refusal::NotAssignable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d1_only_members_with_conversations_can_be_assigned() {
        let member = |access| Member {
            id: MemberId::from("u1"),
            name: "Ann".into(),
            avatar_url: None,
            role: "Support".into(),
            conversations_access: access,
        };
        let (yes, no) = (member(true), member(false));
        assert_eq!(may_assign(Assignee::Nobody), Ok(()));
        assert_eq!(may_assign(Assignee::Member(&yes)), Ok(()));
        assert_eq!(
            may_assign(Assignee::Member(&no)),
            Err(Refusal::NotAssignable)
        );
        assert_eq!(may_assign(Assignee::Unknown), Err(Refusal::NotAssignable));
        let team = [yes.clone()];
        assert_eq!(Assignee::find(None, &team), Assignee::Nobody);
        assert_eq!(Assignee::find(Some(&yes.id), &team), Assignee::Member(&yes));
        let stranger = MemberId::from("u9");
        assert_eq!(Assignee::find(Some(&stranger), &team), Assignee::Unknown);
    }
}
