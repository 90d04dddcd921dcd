//! S4: deadline events fire at their time (server time), are re-armed when
//! a change moves them, survive a restart, and ignore device clock skew.

use rapport_core::model::*;
use rapport_core::policy::{DAY_MS, HOUR_MS, MINUTE_MS};
use rapport_core::store::Store;
use rapport_core::timers::{Clock, DeadlineKey, ManualClock, ServerClock, TimerEvent, Timers};
use rapport_tests::{Events, TempStore, runtime};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

fn start(
    store: &Arc<Store>,
    clock: Arc<dyn Clock>,
    rt: &tokio::runtime::Runtime,
) -> (Timers, Receiver<TimerEvent>) {
    let (tx, rx) = channel();
    let tx = std::sync::Mutex::new(tx);
    let timers = Timers::start(store, clock, rt.handle(), move |ev| {
        let _ = tx.lock().unwrap().send(ev);
    })
    .unwrap();
    (timers, rx)
}

/// Events so far, waiting up to `wait` for the first.
fn drain(rx: &Receiver<TimerEvent>, wait: Duration) -> Vec<DeadlineKey> {
    let mut out = Vec::new();
    if let Ok(ev) = rx.recv_timeout(wait) {
        out.push(ev.key);
        while let Ok(ev) = rx.try_recv() {
            out.push(ev.key);
        }
    }
    out
}

fn window(c: &str) -> DeadlineKey {
    DeadlineKey::WindowCloses(ChatId::from(c))
}

#[test]
fn s4_deadlines_fire_within_50ms_on_a_manual_clock_and_are_rearmed() {
    let rt = runtime();
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("c1", App::Whatsapp, "Ana"),
        e.inbound("c1", "m1", "hi"),
    ]);
    let last_inbound = Timestamp(e.now); // the message's time (Events puts it 1 s ahead)
    let clock = Arc::new(ManualClock::new(Timestamp(e.now)));
    let (timers, rx) = start(&t.store, clock.clone(), &rt);
    assert_eq!(rt.block_on(timers.armed()), 1, "the WhatsApp window");

    // One millisecond before the window closes: nothing.
    clock.set(last_inbound.plus_millis(DAY_MS - 1));
    assert!(drain(&rx, Duration::from_millis(100)).is_empty());
    // A new subscriber message moves the deadline 10 minutes on.
    clock.set(last_inbound.plus_millis(DAY_MS - 2));
    let m2 = rapport_tests::message(
        "c1",
        "m2",
        Sender::Subscriber,
        "again",
        last_inbound.plus_millis(10 * MINUTE_MS),
    );
    t.apply(&[e.ev(EventPayload::MessageUpserted(m2))]);
    clock.set(last_inbound.plus_millis(DAY_MS + 1));
    assert!(
        drain(&rx, Duration::from_millis(100)).is_empty(),
        "re-armed, not fired"
    );
    // At the new deadline it fires, within 50 ms.
    let fired_at = Instant::now();
    clock.set(last_inbound.plus_millis(10 * MINUTE_MS + DAY_MS));
    assert_eq!(drain(&rx, Duration::from_millis(500)), [window("c1")]);
    assert!(
        fired_at.elapsed() < Duration::from_millis(50),
        "{:?}",
        fired_at.elapsed()
    );
    assert_eq!(rt.block_on(timers.armed()), 0);
}

#[test]
fn s4_pause_and_telegram_48h_deadlines() {
    let rt = runtime();
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("tg", App::Telegram, "Ana"),
        e.message("tg", "b1", Sender::Bot, "hello"),
        e.inbound("tg", "s1", "hi"),
    ]);
    let sent = Timestamp(e.now - 1_000); // b1's time
    let clock = Arc::new(ManualClock::new(Timestamp(e.now)));
    let (_timers, rx) = start(&t.store, clock.clone(), &rt);
    let until = Timestamp(e.now).plus_millis(HOUR_MS);
    t.apply(&[e.ev(EventPayload::PauseChanged {
        chat_id: ChatId::from("tg"),
        until: Some(until),
    })]);
    clock.set(until);
    assert_eq!(
        drain(&rx, Duration::from_millis(500)),
        [DeadlineKey::PauseEnds(ChatId::from("tg"))]
    );
    clock.set(sent.plus_millis(48 * HOUR_MS - 1));
    assert!(drain(&rx, Duration::from_millis(100)).is_empty());
    clock.set(sent.plus_millis(48 * HOUR_MS));
    assert_eq!(
        drain(&rx, Duration::from_millis(500)),
        [DeadlineKey::EditDeleteEnds(
            ChatId::from("tg"),
            MessageId::from("b1")
        )],
        "only the bot's message has a 48-hour limit; Telegram has no window"
    );
}

#[test]
fn s4_deadlines_are_restored_after_a_restart() {
    let rt = runtime();
    let t = TempStore::new();
    let mut e = Events::default();
    t.apply(&[
        e.chat("wa", App::Whatsapp, "Ana"),
        e.chat("ig", App::Instagram, "Bo"),
        e.chat("old", App::Viber, "Cy"),
        e.inbound("old", "o1", "long ago"),
    ]);
    // Time passes: the Viber window is long closed by the next messages.
    e.now += 2 * DAY_MS;
    t.apply(&[e.inbound("wa", "w1", "hi"), e.inbound("ig", "i1", "hi")]);
    let ig_sent = Timestamp(e.now);
    let path = t.path();
    let now = Timestamp(e.now + 1_000);
    drop(t.store);
    let store = Arc::new(Store::open(&path).unwrap());
    let clock = Arc::new(ManualClock::new(now));
    let (timers, rx) = start(&store, clock.clone(), &rt);
    assert_eq!(
        rt.block_on(timers.armed()),
        2,
        "wa and ig windows; the closed one is not armed"
    );
    clock.set(now.plus_millis(DAY_MS));
    assert_eq!(drain(&rx, Duration::from_millis(500)), [window("wa")]);
    clock.set(ig_sent.plus_millis(7 * DAY_MS));
    assert_eq!(drain(&rx, Duration::from_millis(500)), [window("ig")]);
}

#[test]
fn s4_real_clock_fires_on_time_and_device_skew_changes_nothing() {
    let rt = runtime();
    for skew in [-HOUR_MS, 0, HOUR_MS] {
        let t = TempStore::new();
        let real = ServerClock::default();
        let real_now = move || real.now();
        let clock = Arc::new(ServerClock::with_device_clock(move || {
            real_now().plus_millis(skew)
        }));
        // The first server response teaches the clock the server's time.
        let server = ServerClock::default();
        let sent = Instant::now();
        clock.observe(server.now(), sent, Instant::now());
        let (_timers, rx) = start(&t.store, clock.clone(), &rt);
        // A pause that ends 150 ms from now, server time.
        let mut e = Events::default();
        let until = server.now().plus_millis(150);
        t.apply(&[e.chat("c1", App::Telegram, "Ana")]);
        let armed_at = Instant::now();
        t.apply(&[e.ev(EventPayload::PauseChanged {
            chat_id: ChatId::from("c1"),
            until: Some(until),
        })]);
        let got = drain(&rx, Duration::from_secs(2));
        let took = armed_at.elapsed();
        assert_eq!(
            got,
            [DeadlineKey::PauseEnds(ChatId::from("c1"))],
            "skew {skew}"
        );
        assert!(
            took >= Duration::from_millis(140) && took < Duration::from_millis(200),
            "skew {skew}: fired after {took:?}"
        );
    }
}
