//! The push decoder (core/src/push): whatever FCM or APNs hands the app.
//! Never panics; what decodes survives the server's envelope unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_core::push::{self, PushPlatform};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = push::decode(text);
    assert_eq!(
        push::chat_to_open(text).ok(),
        decoded.as_ref().ok().map(|p| p.chat_id.clone())
    );
    if let Ok(p) = decoded {
        // What the server sends for it decodes back to it on both platforms.
        let fcm = push::envelope(PushPlatform::Fcm, "t", &p);
        let data = fcm["message"]["data"].to_string();
        assert_eq!(push::decode(&data).as_ref(), Ok(&p));
        let apns = push::envelope(PushPlatform::Apns, "t", &p);
        let info = apns["payload"].to_string();
        assert_eq!(push::decode(&info).as_ref(), Ok(&p));
    }
});
