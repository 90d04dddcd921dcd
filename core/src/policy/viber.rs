//! E6: Viber's bot-initiated messages.
//!
//! Messages inside the 24-hour session after a subscriber's message are
//! free. Outside it a bot starts the conversation: bots created before
//! 5 February 2024 have 10,000 such messages free each calendar month
//! (UTC); past that, and for newer bots always, each one is paid. The core
//! tracks the month's use per bot so the UI can say what a message costs.

use super::Cost;
use crate::model::Timestamp;
use chrono::{DateTime, Datelike};

pub const FREE_PER_MONTH: u32 = 10_000;
/// 2024-02-05T00:00:00Z: bots created before get the free quota.
pub const FREE_QUOTA_CUTOFF: Timestamp = Timestamp(1_707_091_200_000);

/// A bot's quota as the decision needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaState {
    pub free_quota: bool,
    pub used_this_month: u32,
}

pub fn has_free_quota(bot_created_at: Timestamp) -> bool {
    bot_created_at < FREE_QUOTA_CUTOFF
}

/// What one more bot-initiated message costs. Without quota data the core
/// cannot promise it is free.
pub fn cost(q: Option<QuotaState>) -> Cost {
    match q {
        Some(q) if q.free_quota && q.used_this_month < FREE_PER_MONTH => Cost::FreeQuota {
            remaining_after: FREE_PER_MONTH - q.used_this_month - 1,
        },
        _ => Cost::Paid,
    }
}

/// E6: a Viber bot's month as a screen says it: "N free bot-initiated
/// messages left this month", or "paid".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViberMonth {
    /// `left` (1 to 10,000) more bot-initiated messages are free this UTC
    /// month; `used` went out already.
    Free { left: u32, used: u32 },
    /// Each bot-initiated message is paid: the bot is newer than
    /// 5 February 2024 (`free_quota` false), or it used this month's
    /// 10,000 (`free_quota` true). Without quota data the core cannot
    /// promise a free one, so that is `Paid` too.
    Paid { free_quota: bool, used: u32 },
}

/// E6: the month's use of a bot with quota state `q`.
pub fn month(q: Option<QuotaState>) -> ViberMonth {
    match q {
        Some(q) if q.free_quota && q.used_this_month < FREE_PER_MONTH => ViberMonth::Free {
            left: FREE_PER_MONTH - q.used_this_month,
            used: q.used_this_month,
        },
        Some(q) => ViberMonth::Paid {
            free_quota: q.free_quota,
            used: q.used_this_month,
        },
        None => ViberMonth::Paid {
            free_quota: false,
            used: 0,
        },
    }
}

/// The UTC calendar month of `t`, as (year, month 1-12).
pub fn month_of(t: Timestamp) -> (i32, u32) {
    DateTime::from_timestamp_millis(t.0).map_or((1970, 1), |d| (d.year(), d.month()))
}

/// The month as the stores key a bot's use by it: `year * 100 + month`.
pub fn month_key(t: Timestamp) -> u32 {
    let (y, m) = month_of(t);
    (y.max(0) as u32) * 100 + m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e6_quota_boundary_table() {
        let q = |free_quota, used_this_month| {
            Some(QuotaState {
                free_quota,
                used_this_month,
            })
        };
        assert_eq!(
            cost(q(true, 0)),
            Cost::FreeQuota {
                remaining_after: 9_999
            }
        );
        assert_eq!(cost(q(true, 9_999)), Cost::FreeQuota { remaining_after: 0 });
        assert_eq!(cost(q(true, 10_000)), Cost::Paid);
        assert_eq!(cost(q(false, 0)), Cost::Paid);
        assert_eq!(cost(None), Cost::Paid);
        assert!(has_free_quota(Timestamp(FREE_QUOTA_CUTOFF.0 - 1)));
        assert!(!has_free_quota(FREE_QUOTA_CUTOFF));
    }

    #[test]
    fn e6_the_months_use_says_free_left_or_paid() {
        let q = |free_quota, used_this_month| {
            Some(QuotaState {
                free_quota,
                used_this_month,
            })
        };
        assert_eq!(
            month(q(true, 0)),
            ViberMonth::Free {
                left: 10_000,
                used: 0
            }
        );
        assert_eq!(
            month(q(true, 9_999)),
            ViberMonth::Free {
                left: 1,
                used: 9_999
            }
        );
        assert_eq!(
            month(q(true, 10_000)),
            ViberMonth::Paid {
                free_quota: true,
                used: 10_000
            }
        );
        assert_eq!(
            month(q(false, 3)),
            ViberMonth::Paid {
                free_quota: false,
                used: 3
            }
        );
        assert_eq!(
            month(None),
            ViberMonth::Paid {
                free_quota: false,
                used: 0
            }
        );
        // The month agrees with what the next message costs.
        for used in [0, 1, 9_998, 9_999, 10_000] {
            match (month(q(true, used)), cost(q(true, used))) {
                (ViberMonth::Free { left, .. }, Cost::FreeQuota { remaining_after }) => {
                    assert_eq!(left - 1, remaining_after)
                }
                (ViberMonth::Paid { .. }, Cost::Paid) => {}
                other => panic!("{used}: {other:?}"),
            }
        }
    }

    #[test]
    fn e6_use_resets_with_the_calendar_month() {
        // 2026-01-31T23:59:59.999Z and one millisecond later.
        let jan_end = Timestamp(1_769_903_999_999);
        let feb = Timestamp(jan_end.0 + 1);
        assert_eq!(month_of(jan_end), (2026, 1));
        assert_eq!(month_of(feb), (2026, 2));
        assert_eq!(month_key(jan_end), 202_601);
        assert_eq!(month_key(feb), 202_602);
    }
}
