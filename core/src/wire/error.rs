//! The error body of every failed request and its stable codes, one list
//! for the server that sends them and the clients that read them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`ErrorCode`] from one table of variant and wire string, so
/// the enum, its strings and its parser cannot drift apart.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// A failed request's stable code (the `code` of [`ErrorBody`]),
        /// serialised as its string. A code this version does not know (a
        /// newer server's) reads as [`ErrorCode::Unknown`]: the message
        /// still explains it, and it is not retried unless its status says so.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this version does not know.
            Unknown,
        }

        impl ErrorCode {
            /// Every known code, for documents and tests.
            pub const KNOWN: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown => "unknown",
                }
            }

            pub fn parse(s: &str) -> ErrorCode {
                match s {
                    $($code => ErrorCode::$variant,)*
                    _ => ErrorCode::Unknown,
                }
            }
        }
    };
}

error_codes! {
    // Requests.
    /// The request's body, query or path cannot be read.
    BadRequest = "bad_request",
    /// A command (POST/PATCH/DELETE of an agent action) without its key.
    MissingIdempotencyKey = "missing_idempotency_key",
    /// No valid bearer token.
    Unauthorized = "unauthorized",
    /// The refresh token is unknown or expired: log in again.
    SessionExpired = "session_expired",
    /// Wrong email or password.
    BadCredentials = "bad_credentials",
    /// The member's role forbids it.
    Forbidden = "forbidden",
    /// No such chat, message, note, deal, subscriber, flow, upload or route.
    NotFound = "not_found",
    /// Too many requests: wait for `Retry-After`.
    RateLimited = "rate_limited",
    /// The server failed; retrying may succeed.
    Internal = "internal",
    /// The server is overloaded or down for a moment (503).
    Unavailable = "unavailable",
    /// The route exists but not with this method.
    MethodNotAllowed = "method_not_allowed",
    /// A body that is not JSON where JSON is expected.
    UnsupportedMediaType = "unsupported_media_type",
    /// E7: a client-chosen message id is taken by another message.
    DuplicateMessageId = "duplicate_message_id",
    // E2: resumable uploads.
    /// An upload id reused for another file.
    UploadConflict = "upload_conflict",
    /// A part sent at another offset than the server's count.
    UploadOffset = "upload_offset",
    /// The file is not complete yet.
    UploadIncomplete = "upload_incomplete",
    /// The bytes do not match the announced SHA-256.
    UploadCorrupt = "upload_corrupt",
    /// The client's copy of a queued file is gone (never sent by a server).
    FileMissing = "file_missing",
    /// 413: the member's uploads not yet sent would pass their quota;
    /// send or abandon some (unsent ones expire after a day).
    UploadQuota = "upload_quota",
    // Storage.
    /// 507: the server has no room for this; nothing already accepted is
    /// lost, and retrying later may succeed.
    StorageFull = "storage_full",
    // The rules (policy::Refusal, SPEC E, B7/B8, C1, D1).
    TextEmpty = "text_empty",
    TextTooLong = "text_too_long",
    AttachmentTooLarge = "attachment_too_large",
    Executable = "executable",
    FileEmpty = "file_empty",
    NotAssignable = "not_assignable",
    WindowClosed = "window_closed",
    NotSupported = "not_supported",
    WrongMessage = "wrong_message",
    TooOld = "too_old",
    /// A free-form field over its bound (policy::fields).
    FieldTooLong = "field_too_long",
    /// The workspace's platform does not offer this (issue 17).
    NotOffered = "not_offered",
}

/// A refusal's code (here rather than in `policy`, so the rules know
/// nothing of the wire).
impl crate::policy::Refusal {
    /// The stable code the server's `{code, message}` errors carry (the
    /// refusal's serde tag too).
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    pub fn error_code(&self) -> ErrorCode {
        use crate::policy::Refusal as R;
        match self {
            R::TextEmpty => ErrorCode::TextEmpty,
            R::TextTooLong { .. } => ErrorCode::TextTooLong,
            R::AttachmentTooLarge { .. } => ErrorCode::AttachmentTooLarge,
            R::Executable { .. } => ErrorCode::Executable,
            R::FileEmpty => ErrorCode::FileEmpty,
            R::NotAssignable => ErrorCode::NotAssignable,
            R::WindowClosed { .. } => ErrorCode::WindowClosed,
            R::NotSupported { .. } => ErrorCode::NotSupported,
            R::WrongMessage => ErrorCode::WrongMessage,
            R::TooOld { .. } => ErrorCode::TooOld,
            R::FieldTooLong { .. } => ErrorCode::FieldTooLong,
            R::NotOffered { .. } => ErrorCode::NotOffered,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

/// The codes as a string enum in the OpenAPI document.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::KNOWN.iter().map(|c| c.as_str())))
            .description(Some(
                "A stable error code; a client treats one it does not know as `unknown`.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

/// The error body of every failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// For people; not stable.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself_and_unknown_ones_are_kept() {
        for &c in ErrorCode::KNOWN {
            assert_eq!(ErrorCode::parse(c.as_str()), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), c);
        }
        let newer: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(newer, ErrorCode::Unknown);
    }

    #[test]
    fn every_refusal_has_its_code() {
        use crate::policy::{Refusal, text::LengthUnit};
        let all = [
            Refusal::TextEmpty,
            Refusal::TextTooLong {
                limit: 1,
                actual: 2,
                unit: LengthUnit::Characters,
            },
            Refusal::AttachmentTooLarge {
                limit_bytes: 1,
                actual_bytes: 2,
            },
            Refusal::Executable { kind: "elf".into() },
            Refusal::NotAssignable,
            Refusal::FileEmpty,
            Refusal::WindowClosed { closed_at: None },
            Refusal::NotSupported {
                app: crate::model::App::Viber,
            },
            Refusal::WrongMessage,
            Refusal::TooOld {
                deadline: crate::model::Timestamp(0),
            },
            Refusal::FieldTooLong {
                field: "emoji".into(),
                limit: 32,
                actual: 33,
                unit: LengthUnit::Utf8Bytes,
            },
            Refusal::NotOffered {
                feature: "reactions".into(),
            },
        ];
        for r in all {
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["code"], r.code());
            assert_ne!(r.error_code(), ErrorCode::Unknown);
        }
    }
}
