//! E3/F7: pausing the bot for a subscriber.
//!
//! A manual reply pauses the bot's automated replies and campaigns for 60
//! minutes from the agent's last manual message; "+60 min" extends the
//! pause by an hour; "continue autoflows" ends it now. A manual reply never
//! shortens a pause an agent extended. The server holds automation while
//! `now < until`.

use super::MINUTE_MS;
use crate::model::Timestamp;

pub const PAUSE_MS: i64 = 60 * MINUTE_MS;

/// The pause after a manual reply at `now`.
pub fn after_manual_reply(until: Option<Timestamp>, now: Timestamp) -> Timestamp {
    let fresh = now.plus_millis(PAUSE_MS);
    until.map_or(fresh, |u| u.max(fresh))
}

/// F7 "+60 min": an hour more than the current pause, or than now.
pub fn extend(until: Option<Timestamp>, now: Timestamp) -> Timestamp {
    until.map_or(now, |u| u.max(now)).plus_millis(PAUSE_MS)
}

/// F7 "continue autoflows": the pause ends now.
pub fn continue_autoflows() -> Option<Timestamp> {
    None
}

pub fn is_paused(until: Option<Timestamp>, now: Timestamp) -> bool {
    until.is_some_and(|u| now < u)
}

/// Time left in the pause, for the countdown.
pub fn time_left_ms(until: Option<Timestamp>, now: Timestamp) -> Option<i64> {
    until.filter(|u| now < *u).map(|u| u.0 - now.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn e3_f7_boundary_table() {
        let until = after_manual_reply(None, T0);
        assert_eq!(until, T0.plus_millis(PAUSE_MS));
        assert!(is_paused(Some(until), T0.plus_millis(PAUSE_MS - 1)));
        assert!(!is_paused(Some(until), T0.plus_millis(PAUSE_MS)));
        assert!(!is_paused(Some(until), T0.plus_millis(PAUSE_MS + 1)));
        assert_eq!(
            time_left_ms(Some(until), T0.plus_millis(PAUSE_MS - 1)),
            Some(1)
        );
        assert_eq!(
            time_left_ms(Some(until), T0.plus_millis(PAUSE_MS + 1)),
            None
        );
        // A later reply restarts the 60 minutes from itself.
        let later = T0.plus_millis(10 * MINUTE_MS);
        assert_eq!(
            after_manual_reply(Some(until), later),
            later.plus_millis(PAUSE_MS)
        );
        // +60 extends what is left; on an ended pause, from now.
        let ext = extend(Some(until), T0);
        assert_eq!(ext, T0.plus_millis(2 * PAUSE_MS));
        assert_eq!(
            extend(Some(T0), T0.plus_millis(PAUSE_MS)),
            T0.plus_millis(2 * PAUSE_MS)
        );
        // A reply does not shorten an extended pause.
        assert_eq!(after_manual_reply(Some(ext), T0), ext);
        assert_eq!(continue_autoflows(), None);
        assert!(!is_paused(continue_autoflows(), T0));
    }
}
