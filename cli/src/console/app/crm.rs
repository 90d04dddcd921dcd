//! G1-G3 deals and the G2 CRM contact of the open chat's subscriber, and
//! A7 home. The data is the store's (`Store::deals`, `Store::home`); every
//! change goes through `Client::run_action`, which checks it first.

use super::{App, DealPrompt, Mode};
use rapport_core::model::{CrmContact, Named};
use rapport_core::sync::Action;
use rapport_core::wire::SubscriberEdit;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// Chats the home view shows (A7).
const HOME_LIMIT: u32 = 50;

/// `125`, `125.5`, `125.00` as minor units (cents); `None` if it is not an
/// amount.
pub fn parse_amount(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents: i64 = format!("{frac:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

impl App {
    /// G1-G3: the deals popup of the open chat's subscriber.
    pub(super) fn open_deals(&mut self) {
        self.tick();
        self.mode = Mode::Deals { selected: 0 };
    }

    pub(super) fn deals_key(&mut self, k: KeyEvent, selected: usize) {
        let n = self.open.as_ref().map_or(0, |o| o.deals.len());
        let deal = self
            .open
            .as_ref()
            .and_then(|o| o.deals.get(selected))
            .map(|d| d.id.clone());
        match k.code {
            KeyCode::Esc | KeyCode::Char('q' | 'G') => self.mode = Mode::List,
            KeyCode::Up | KeyCode::Char('k') => {
                self.mode = Mode::Deals {
                    selected: selected.saturating_sub(1),
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.mode = Mode::Deals {
                    selected: (selected + 1).min(n.saturating_sub(1)),
                }
            }
            KeyCode::Char('a') => self.prompt(DealPrompt::Add, String::new()),
            KeyCode::Char('e') | KeyCode::Enter => match deal {
                Some(id) => self.prompt(DealPrompt::Edit(id), String::new()),
                None => self.flash("no deal selected (a adds one)", true),
            },
            KeyCode::Char('n') => {
                let now = self
                    .open
                    .as_ref()
                    .and_then(|o| o.card.as_ref())
                    .and_then(|c| c.crm_contact.as_ref())
                    .map(|c| format!("{} {}", c.first_name, c.last_name))
                    .unwrap_or_default();
                self.prompt(DealPrompt::Contact, now.trim().to_owned());
            }
            _ => {}
        }
    }

    fn prompt(&mut self, p: DealPrompt, text: String) {
        self.input = text;
        self.mode = Mode::DealInput(p);
    }

    /// A pipeline's or stage's name as the subscriber's deals know it,
    /// else its id.
    fn named(&self, id: &str, stage: bool) -> Named {
        let name = self
            .open
            .iter()
            .flat_map(|o| o.deals.iter())
            .map(|d| if stage { &d.stage } else { &d.pipeline })
            .find(|n| n.id == id)
            .map_or_else(|| id.to_owned(), |n| n.name.clone());
        Named {
            id: id.to_owned(),
            name,
        }
    }

    /// Enter on a deals prompt.
    pub(super) fn submit_deal(&mut self, p: DealPrompt) {
        let Some(open) = &self.open else {
            self.mode = Mode::List;
            return;
        };
        let subscriber_id = open.summary.chat.subscriber_id.clone();
        let text = self.input.trim().to_owned();
        let parsed = match &p {
            DealPrompt::Add => {
                self.parse_add(&text)
                    .map(|(pipeline, stage, name, amount, currency)| {
                        let done = format!("adding the deal {name}");
                        (
                            Action::AddDeal {
                                subscriber_id,
                                pipeline,
                                stage,
                                name,
                                amount_minor: amount,
                                currency,
                            },
                            done,
                        )
                    })
            }
            DealPrompt::Edit(id) => {
                let (mut stage, mut amount) = (None, None);
                for t in text.split_whitespace() {
                    match parse_amount(t) {
                        Some(a) => amount = Some(a),
                        None => stage = Some(self.named(t, true)),
                    }
                }
                (stage.is_some() || amount.is_some()).then(|| {
                    (
                        Action::EditDeal {
                            deal_id: id.clone(),
                            stage,
                            name: None,
                            amount_minor: amount,
                        },
                        "changing the deal".to_owned(),
                    )
                })
            }
            DealPrompt::Contact => {
                let mut words = text.splitn(2, ' ');
                let first = words.next().unwrap_or("").trim().to_owned();
                let last = words.next().unwrap_or("").trim().to_owned();
                let phone = open
                    .card
                    .as_ref()
                    .and_then(|c| c.crm_contact.as_ref())
                    .and_then(|c| c.phone.clone());
                (!first.is_empty()).then(|| {
                    let done = format!("renaming the CRM contact {first} {last}");
                    (
                        Action::EditSubscriber {
                            subscriber_id,
                            edit: SubscriberEdit {
                                crm_contact: Some(CrmContact {
                                    first_name: first,
                                    last_name: last,
                                    phone,
                                }),
                                ..Default::default()
                            },
                        },
                        done,
                    )
                })
            }
        };
        let Some((action, done)) = parsed else {
            self.flash(
                match p {
                    DealPrompt::Add => "type pipeline-id/stage-id Name 125.00 EUR",
                    DealPrompt::Edit(_) => "type a stage id, an amount like 125.00, or both",
                    DealPrompt::Contact => "type the first and last name",
                },
                true,
            );
            return;
        };
        self.input.clear();
        self.mode = Mode::Deals { selected: 0 };
        self.act(action, &done);
    }

    /// `pipeline-id/stage-id Name words 125.00 EUR`.
    fn parse_add(&self, text: &str) -> Option<(Named, Named, String, i64, String)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [path, name @ .., amount, currency] = words.as_slice() else {
            return None;
        };
        let (pipeline, stage) = path.split_once('/')?;
        let amount = parse_amount(amount)?;
        let currency_ok = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic());
        if pipeline.is_empty() || stage.is_empty() || name.is_empty() || !currency_ok {
            return None;
        }
        Some((
            self.named(pipeline, false),
            self.named(stage, true),
            name.join(" "),
            amount,
            currency.to_ascii_uppercase(),
        ))
    }

    /// A7: the home view, the latest chats.
    pub(super) fn open_home(&mut self) {
        match self.client.home(HOME_LIMIT) {
            Ok(chats) => self.mode = Mode::Home { chats, selected: 0 },
            Err(e) => self.flash(e.to_string(), true),
        }
    }

    pub(super) fn home_key(
        &mut self,
        k: KeyEvent,
        chats: Vec<rapport_core::model::ChatSummary>,
        selected: usize,
    ) {
        let last = chats.len().saturating_sub(1);
        match k.code {
            KeyCode::Esc | KeyCode::Char('q' | 'H') => self.mode = Mode::List,
            KeyCode::Up | KeyCode::Char('k') => {
                self.mode = Mode::Home {
                    chats,
                    selected: selected.saturating_sub(1),
                }
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.mode = Mode::Home {
                    chats,
                    selected: (selected + 1).min(last),
                }
            }
            KeyCode::Enter => {
                self.mode = Mode::List;
                if let Some(c) = chats.get(selected) {
                    self.open_chat(c.chat.id.clone());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn amounts_are_read_in_cents() {
        assert_eq!(parse_amount("125"), Some(12500));
        assert_eq!(parse_amount("125.5"), Some(12550));
        assert_eq!(parse_amount("125.05"), Some(12505));
        assert_eq!(parse_amount("0.99"), Some(99));
        for bad in ["", ".5", "1.234", "12a", "-3", "1,5", "EUR"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }
}
