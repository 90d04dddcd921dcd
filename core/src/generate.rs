//! A realistic synthetic workspace, as a stream of server events, for tests
//! and benchmarks: N chats and M messages across the six apps and several
//! bots, subscriber names in Latin with accents, Cyrillic, Greek and Arabic,
//! some with emoji; a few busy chats and many quiet ones; statuses,
//! assignees, deliveries, reads, reactions, quotes, edits, notes mixed in.
//!
//! Deterministic: the same [`GenConfig`] always yields the same events.

use crate::model::*;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct GenConfig {
    pub chats: usize,
    pub messages: usize,
    pub bots_per_app: usize,
    pub members: usize,
    /// Messages of chat `c0`, spread through the run (a long timeline).
    pub big_chat_messages: usize,
    pub seed: u64,
    /// Server time of the first event; later events are 1–2 s apart.
    pub start: Timestamp,
}

impl GenConfig {
    pub fn new(chats: usize, messages: usize) -> Self {
        GenConfig {
            chats,
            messages,
            bots_per_app: 2,
            members: 8,
            big_chat_messages: 0,
            seed: 42,
            start: Timestamp(1_760_000_000_000),
        }
    }
}

/// The member the generated workspace treats as the logged-in agent.
/// A plain text message (tests, benchmarks, the simulator's extras).
pub fn text_message(chat: &str, id: &str, sender: Sender, text: &str, at: Timestamp) -> Message {
    Message::text(
        MessageId::from(id),
        ChatId::from(chat),
        sender,
        text.into(),
        at,
        None,
    )
}

pub fn me() -> MemberId {
    MemberId::from("u0")
}

const FIRST: &[&str] = &[
    "José",
    "María",
    "Ana",
    "François",
    "Zoë",
    "Łukasz",
    "Søren",
    "Ángel",
    "Noémie",
    "Jürgen",
    "Beatriz",
    "Renée",
    "João",
    "Inês",
    "Çağla",
    "Chloé",
    "Mateo",
    "Lucía",
    "Björn",
    "Agnès",
    "Иван",
    "Мария",
    "Дмитрий",
    "Юлия",
    "Алёна",
    "Сергей",
    "Γιώργος",
    "Ελένη",
    "Νίκος",
    "Άλκηστις",
    "Σοφία",
    "محمد",
    "فاطمة",
    "أحمد",
    "ليلى",
    "Aisha",
    "Kenji",
    "Priya",
    "Tom",
];
const LAST: &[&str] = &[
    "Álvarez",
    "García",
    "Müller",
    "Núñez",
    "O'Brien",
    "Dvořák",
    "Kowalski",
    "Şahin",
    "Lefèvre",
    "Gonçalves",
    "Rossi",
    "Østergaard",
    "Petrov",
    "Смирнова",
    "Ёлкин",
    "Кузнецов",
    "Παπαδόπουλος",
    "Οικονόμου",
    "Ιωάννου",
    "العلي",
    "حسن",
    "Nakamura",
    "Patel",
    "Smith",
];
const EMOJI: &[&str] = &["🌵", "⭐", "👩‍💻", "🔥", "🇧🇷", "😊"];
const WORDS: &[&str] = &[
    "hello",
    "price",
    "delivery",
    "order",
    "thanks",
    "when",
    "open",
    "tomorrow",
    "size",
    "refund",
    "¿cuándo?",
    "спасибо",
    "ευχαριστώ",
    "شكرا",
    "ok 👍",
    "card",
    "help",
];

pub struct Generator {
    cfg: GenConfig,
    rng: fastrand::Rng,
    seq: u64,
    now: i64,
    phase: Phase,
    queue: VecDeque<EventPayload>,
    chats: Vec<ChatMeta>,
    /// Recent messages, for deliveries, reactions, quotes and edits.
    recent: VecDeque<(usize, MessageId, Direction)>,
    messages_done: usize,
    notes_done: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Chats(usize),
    Activity,
    Done,
}

struct ChatMeta {
    app: App,
    open: bool,
    /// The subscriber card as last sent, so changes can be sent whole.
    card: Subscriber,
}

impl Generator {
    pub fn new(cfg: GenConfig) -> Generator {
        Generator {
            rng: fastrand::Rng::with_seed(cfg.seed),
            seq: 0,
            now: cfg.start.0,
            phase: Phase::Setup,
            queue: VecDeque::new(),
            chats: Vec::with_capacity(cfg.chats),
            recent: VecDeque::new(),
            messages_done: 0,
            notes_done: 0,
            cfg,
        }
    }

    /// A generator that has already produced the whole of `cfg`'s
    /// workspace: what a simulator continues from after a restart.
    pub fn after(cfg: GenConfig) -> Generator {
        let mut g = Generator::new(cfg);
        for _ in g.by_ref() {}
        g
    }

    /// [`Generator::after`] for a workspace whose log already reaches
    /// `head`: a simulator restarted on it continues with ids no earlier
    /// run can have used (each message or note took at least one seq), not
    /// the ids its last run already gave to other messages and notes.
    pub fn resume(cfg: GenConfig, head: u64) -> Generator {
        let mut g = Generator::after(cfg);
        let head = usize::try_from(head).unwrap_or(usize::MAX);
        g.messages_done = g.messages_done.max(head);
        g.notes_done = g.notes_done.max(head as u64);
        g
    }

    /// Lets the activity go on for `messages` more messages (a simulator
    /// keeps drawing from the generator that seeded its workspace).
    pub fn continue_for(&mut self, messages: usize) {
        self.cfg.messages = self.messages_done.saturating_add(messages);
        if self.phase == Phase::Done {
            self.phase = Phase::Activity;
        }
    }

    /// The next `n` events (fewer at the end).
    pub fn batch(&mut self, n: usize) -> Vec<Event> {
        self.by_ref().take(n).collect()
    }

    fn bot_id(app: App, k: usize) -> BotId {
        BotId(format!("b-{}-{k}", app.as_str()))
    }

    /// A subscriber's name as the generated workspace gives them (also
    /// used to seed the fake SendPulse of `rapport demo --sendpulse`).
    pub fn name(&mut self) -> String {
        let f = FIRST[self.rng.usize(..FIRST.len())];
        let l = LAST[self.rng.usize(..LAST.len())];
        let mut s = format!("{f} {l}");
        if self.rng.u8(..10) == 0 {
            s.push(' ');
            s.push_str(EMOJI[self.rng.usize(..EMOJI.len())]);
        }
        s
    }

    /// A short message text in the generated workspace's mix of languages.
    pub fn text(&mut self) -> String {
        let n = 1 + self.rng.usize(..8);
        (0..n)
            .map(|_| WORDS[self.rng.usize(..WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn setup(&mut self) {
        for app in App::ALL {
            for k in 0..self.cfg.bots_per_app {
                // Half the Viber bots predate 5 February 2024 (E6).
                let created = if k % 2 == 0 {
                    1_700_000_000_000
                } else {
                    1_720_000_000_000
                };
                self.queue.push_back(EventPayload::BotUpserted(Bot {
                    id: Self::bot_id(app, k),
                    app,
                    name: format!("{} bot {k}", app.as_str()),
                    created_at: Timestamp(created),
                }));
            }
        }
        for m in 0..self.cfg.members {
            self.queue.push_back(EventPayload::MemberUpserted(Member {
                id: MemberId(format!("u{m}")),
                name: format!("Agent {m}"),
                avatar_url: None,
                role: if m % 4 == 3 { "Viewer" } else { "Agent" }.into(),
                conversations_access: m % 4 != 3,
            }));
        }
    }

    fn chat(&mut self, i: usize) {
        let app = App::ALL[self.rng.usize(..App::ALL.len())];
        let bot = Self::bot_id(app, self.rng.usize(..self.cfg.bots_per_app.max(1)));
        let group = app == App::Telegram && self.rng.u8(..8) == 0;
        let title = if group {
            format!(
                "{} {} group",
                WORDS[self.rng.usize(..WORDS.len())],
                self.name()
            )
        } else {
            self.name()
        };
        let sub = SubscriberId(format!("s{i}"));
        let card = Subscriber {
            id: sub.clone(),
            bot_id: bot.clone(),
            app,
            name: title.clone(),
            username: Some(format!("user{i}")),
            avatar_url: None,
            email: None,
            phone: None,
            status: SubscriptionStatus::Active,
            subscribed_at: Timestamp(self.now),
            last_activity_at: None,
            group: group.then(|| GroupInfo {
                member_count: 3 + self.rng.u32(..500),
                share_link: Some(format!("https://t.me/g{i}")),
                invite_link: None,
            }),
            instagram: (app == App::Instagram).then(|| InstagramFollow {
                follows_business: self.rng.bool(),
                business_follows: self.rng.bool(),
            }),
            ad_source: None,
            variables: Default::default(),
            tags: Vec::new(),
            active_flow: None,
            crm_contact: None,
        };
        self.queue
            .push_back(EventPayload::SubscriberUpserted(card.clone()));
        let open = self.rng.u8(..3) != 0;
        let assignee = match self.rng.u8(..4) {
            0 => None,
            _ => Some(MemberId(format!(
                "u{}",
                self.rng.usize(..self.cfg.members.max(1))
            ))),
        };
        self.queue.push_back(EventPayload::ChatUpserted(Chat {
            id: ChatId(format!("c{i}")),
            bot_id: bot,
            app,
            kind: if group {
                ChatKind::Group
            } else {
                ChatKind::Personal
            },
            subscriber_id: sub,
            title,
            avatar_url: None,
            state: if open {
                ChatState::Open
            } else {
                ChatState::Closed
            },
            assignee,
            last_activity: Timestamp(self.now),
            unread_count: 0,
            last_inbound_at: None,
            paused_until: None,
        }));
        self.chats.push(ChatMeta { app, open, card });
    }

    /// Busy chats get most messages: the square of a uniform draw skews
    /// towards low indexes.
    fn pick_chat(&mut self) -> usize {
        let n = self.chats.len();
        let big = self.cfg.big_chat_messages;
        if big > 0
            && self
                .messages_done
                .is_multiple_of((self.cfg.messages / big).max(1))
        {
            return 0;
        }
        let x = self.rng.f64();
        ((x * x * n as f64) as usize).min(n - 1)
    }

    fn activity(&mut self) {
        let c = self.pick_chat();
        let app = self.chats[c].app;
        let chat_id = ChatId(format!("c{c}"));
        let id = MessageId(format!("m{}", self.messages_done));
        let roll = self.rng.u8(..100);
        let sender = match roll {
            0..55 => Sender::Subscriber,
            55..85 => Sender::Bot,
            85..95 => Sender::Member(MemberId(format!(
                "u{}",
                self.rng.usize(..self.cfg.members.max(1))
            ))),
            _ => Sender::ThirdPartyApp,
        };
        let inbound = sender == Sender::Subscriber;
        let content = match (app, self.rng.u8(..20)) {
            (_, 0) if inbound => Content::ButtonPress {
                label: "Talk to a person".into(),
            },
            (_, 1) => Content::Attachment(Attachment {
                name: format!("photo_{}.jpg", self.messages_done),
                size_bytes: 20_000 + self.rng.u64(..2_000_000),
                mime: "image/jpeg".into(),
                media: MediaKind::Image,
                url: (app == App::Telegram)
                    .then(|| format!("https://files.example/{}", self.messages_done)),
                caption: None,
            }),
            (App::Instagram, 2) if inbound => Content::AdClick {
                ad: AdRef {
                    name: "Autumn sale".into(),
                    url: "https://facebook.example/ads/1".into(),
                },
                text: Some(self.text()),
            },
            (App::Instagram, 3) if inbound => Content::StoryMention {
                story_url: format!("https://instagram.example/s/{}", self.messages_done),
            },
            _ => Content::Text { text: self.text() },
        };
        let quote = (app == App::Telegram && inbound && self.rng.u8(..10) == 0)
            .then(|| {
                self.recent.back().map(|(_, m, _)| Quote {
                    message_id: m.clone(),
                    text: "…".into(),
                })
            })
            .flatten();
        let delivery =
            (!inbound && crate::policy::delivery::shows_ticks(app)).then_some(Delivery::Sent);
        self.queue.push_back(EventPayload::MessageUpserted(Message {
            id: id.clone(),
            chat_id: chat_id.clone(),
            sender,
            content,
            sent_at: Timestamp(self.now),
            delivery,
            quote,
            reactions: Vec::new(),
            edited_at: None,
            deleted_at: None,
            in_reply_to_ad: None,
        }));
        let dir = if inbound {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        self.recent.push_back((c, id, dir));
        if self.recent.len() > 64 {
            self.recent.pop_front();
        }
        self.messages_done += 1;
        self.mixed(c, chat_id);
    }

    /// The other kinds of change, at realistic rates.
    fn mixed(&mut self, c: usize, chat_id: ChatId) {
        let roll = self.rng.u16(..1000);
        let pick = self.rng.usize(..self.recent.len().max(1));
        let recent = self.recent.get(pick).cloned();
        match roll {
            0..80 => {
                if let Some((rc, m, Direction::Outbound)) = recent {
                    let d = if self.rng.bool() {
                        Delivery::Delivered
                    } else {
                        Delivery::Read
                    };
                    self.queue.push_back(EventPayload::MessageDelivery {
                        chat_id: ChatId(format!("c{rc}")),
                        message_id: m,
                        delivery: d,
                    });
                }
            }
            80..130 => self.queue.push_back(EventPayload::ChatRead { chat_id }),
            130..150 => {
                let open = !self.chats[c].open;
                self.chats[c].open = open;
                self.queue.push_back(EventPayload::ChatStateChanged {
                    chat_id,
                    state: if open {
                        ChatState::Open
                    } else {
                        ChatState::Closed
                    },
                });
            }
            150..160 => {
                let a = (self.rng.u8(..3) != 0)
                    .then(|| MemberId(format!("u{}", self.rng.usize(..self.cfg.members.max(1)))));
                self.queue.push_back(EventPayload::ChatAssigned {
                    chat_id,
                    assignee: a,
                });
            }
            160..170 => {
                if let Some((rc, m, _)) = recent {
                    self.queue.push_back(EventPayload::ReactionsChanged {
                        chat_id: ChatId(format!("c{rc}")),
                        message_id: m,
                        reactions: vec![Reaction {
                            emoji: "👍".into(),
                            by: ReactionBy::Subscriber,
                        }],
                    });
                }
            }
            170..175 => {
                self.notes_done += 1;
                self.queue.push_back(EventPayload::NoteUpserted(Note {
                    id: NoteId(format!("n{}", self.notes_done)),
                    chat_id,
                    author: me(),
                    text: "Called back, wants a refund 📞".into(),
                    created_at: Timestamp(self.now),
                    edited_at: None,
                }));
            }
            175..178 => {
                if let Some((rc, m, Direction::Outbound)) = recent
                    && self.chats[rc].app == App::Telegram
                {
                    self.queue.push_back(EventPayload::MessageEdited {
                        chat_id: ChatId(format!("c{rc}")),
                        message_id: m,
                        text: "(edited) see you tomorrow".into(),
                    });
                }
            }
            178..180 => {
                if let Some((rc, m, _)) = recent
                    && self.chats[rc].app == App::Telegram
                {
                    self.queue.push_back(EventPayload::MessageDeleted {
                        chat_id: ChatId(format!("c{rc}")),
                        message_id: m,
                    });
                }
            }
            180..186 => {
                // F1-F4: the card changes (activity, follows, tags, variables).
                let now = Timestamp(self.now);
                let flip = self.rng.bool();
                let card = &mut self.chats[c].card;
                card.last_activity_at = Some(now);
                if let Some(ig) = card.instagram.as_mut() {
                    ig.follows_business = flip;
                }
                if flip && !card.tags.iter().any(|t| t == "vip") {
                    card.tags.push("vip".into());
                } else {
                    card.tags.retain(|t| t != "vip");
                }
                card.variables
                    .insert("last_order".into(), format!("#{}", self.messages_done));
                let card = card.clone();
                self.queue.push_back(EventPayload::SubscriberUpserted(card));
            }
            _ => {}
        }
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(payload) = self.queue.pop_front() {
                self.seq += 1;
                self.now += 1000 + self.rng.i64(0..1000);
                return Some(Event {
                    seq: Seq(self.seq),
                    at: Timestamp(self.now),
                    payload,
                });
            }
            match self.phase {
                Phase::Setup => {
                    self.setup();
                    self.phase = Phase::Chats(0);
                }
                Phase::Chats(i) if i < self.cfg.chats => {
                    self.chat(i);
                    self.phase = Phase::Chats(i + 1);
                }
                Phase::Chats(_) => self.phase = Phase::Activity,
                Phase::Activity
                    if self.messages_done < self.cfg.messages && !self.chats.is_empty() =>
                {
                    self.activity()
                }
                Phase::Activity => self.phase = Phase::Done,
                Phase::Done => return None,
            }
        }
    }
}
