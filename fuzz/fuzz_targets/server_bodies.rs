//! The server's request bodies: the JSON each route decodes and the checks
//! it runs on the body before any database work (server/src: command.rs's
//! `decode_body`, the field bounds, `uploads::check_open`,
//! `notify::check_device`), called directly, without HTTP. The first byte
//! picks the route. Never panics: bad input is a typed 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_core::model::App;
use rapport_core::policy::fields::{self, Field};
use rapport_core::policy::text;
use rapport_core::wire::{
    AssignChat, DealFields, DeviceRegistration, LoginRequest, NoBody, NotificationSettings,
    PauseBot, React, RefreshRequest, SendAttachment, SendMessage, SubscriberEdit, TextBody,
    UploadRef, valid_message_id,
};
use rapport_server::command::decode_body;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes like the route; what decodes re-encodes and decodes the same.
fn body<B: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<B> {
    let b: B = decode_body(bytes).ok()?;
    let again = serde_json::to_vec(&b).expect("a decoded body encodes");
    let back: B = decode_body(&again).expect("an encoded body decodes");
    assert_eq!(back, b);
    Some(b)
}

fn texts(t: &str) {
    for app in App::ALL {
        let _ = text::check(app, t);
        let _ = text::remaining(app, t);
    }
    let _ = text::check_note(t);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    match pick % 14 {
        0 => {
            if let Some(b) = body::<SendMessage>(bytes) {
                if let Some(t) = &b.template {
                    let _ = fields::check(Field::Template, t);
                }
                if let Some(t) = &b.text {
                    texts(t);
                }
                if let Some(id) = &b.message_id {
                    let _ = valid_message_id(&id.0);
                }
            }
        }
        1 => {
            if let Some(b) = body::<SendAttachment>(bytes) {
                if let Some(c) = &b.caption {
                    texts(c);
                }
            }
        }
        2 => drop(body::<AssignChat>(bytes)),
        3 => drop(body::<PauseBot>(bytes)),
        4 => {
            if let Some(b) = body::<TextBody>(bytes) {
                texts(&b.text);
            }
        }
        5 => {
            if let Some(b) = body::<React>(bytes)
                && let Some(e) = &b.emoji
            {
                let _ = fields::check(Field::Emoji, e);
            }
        }
        6 => {
            if let Some(b) = body::<SubscriberEdit>(bytes) {
                let _ = b.check_fields();
            }
        }
        7 => {
            if let Some(b) = body::<DealFields>(bytes) {
                let _ = b.check_fields();
            }
        }
        8 => {
            if let Some(b) = body::<UploadRef>(bytes) {
                let _ = rapport_server::uploads::check_open(&b);
            }
        }
        9 => {
            if let Some(b) = body::<DeviceRegistration>(bytes) {
                let _ = rapport_server::notify::check_device(&b);
            }
        }
        10 => drop(body::<NotificationSettings>(bytes)),
        11 => drop(body::<LoginRequest>(bytes)),
        12 => drop(body::<RefreshRequest>(bytes)),
        _ => drop(body::<NoBody>(bytes)),
    }
});
