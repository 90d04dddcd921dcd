//! Issue 16 hole 4: the bounds of the free-form fields that reach the
//! event log (and every client's store). The app checks them before it
//! queues (`Action::check_fields`), the server refuses the same with 422
//! `field_too_long`, naming the field and its limit.
//!
//! | field | limit |
//! |---|---|
//! | `emoji` (B7) | 32 bytes of UTF-8 |
//! | `template` (E5), `tag` (F5), `flow_id` (F6) | 256 characters |
//! | `variable_name` (F8) | 128 characters |
//! | `variable_value` (F8) | 4,096 characters |
//! | `deal` fields: name, currency, pipeline and stage ids and names (G1/G3) | 1,024 characters |
//! | `file_name` (E2) | 255 bytes of UTF-8 (what file systems allow) |
//!
//! Characters are Unicode scalar values here (not grapheme clusters: a
//! bound on storage, not on what a person sees).

use super::Refusal;
use super::text::LengthUnit;

/// A bounded field, by its name on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Emoji,
    Template,
    Tag,
    Flow,
    VariableName,
    VariableValue,
    Deal,
    FileName,
}

impl Field {
    pub const ALL: &'static [Field] = &[
        Field::Emoji,
        Field::Template,
        Field::Tag,
        Field::Flow,
        Field::VariableName,
        Field::VariableValue,
        Field::Deal,
        Field::FileName,
    ];

    /// The name a refusal gives it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Emoji => "emoji",
            Field::Template => "template",
            Field::Tag => "tag",
            Field::Flow => "flow_id",
            Field::VariableName => "variable_name",
            Field::VariableValue => "variable_value",
            Field::Deal => "deal",
            Field::FileName => "file_name",
        }
    }

    /// Its limit and what the limit counts.
    pub fn limit(self) -> (u32, LengthUnit) {
        match self {
            Field::Emoji => (32, LengthUnit::Utf8Bytes),
            Field::Template | Field::Tag | Field::Flow => (256, LengthUnit::Characters),
            Field::VariableName => (128, LengthUnit::Characters),
            Field::VariableValue => (4_096, LengthUnit::Characters),
            Field::Deal => (1_024, LengthUnit::Characters),
            Field::FileName => (255, LengthUnit::Utf8Bytes),
        }
    }
}

/// Refuses `value` if it is longer than `field` allows.
pub fn check(field: Field, value: &str) -> Result<(), Refusal> {
    let (limit, unit) = field.limit();
    // Bytes first: a value this long in bytes is over in characters too,
    // and counting stops early.
    let actual = match unit {
        LengthUnit::Utf8Bytes => value.len(),
        _ if value.len() <= limit as usize => return Ok(()),
        _ => value.chars().count(),
    };
    if actual <= limit as usize {
        return Ok(());
    }
    Err(Refusal::FieldTooLong {
        field: field.name().to_owned(),
        limit,
        actual: u32::try_from(actual).unwrap_or(u32::MAX),
        unit,
    })
}

/// [`check`] on each `(field, value)`; the first refusal.
pub fn check_all<'a>(fields: impl IntoIterator<Item = (Field, &'a str)>) -> Result<(), Refusal> {
    fields.into_iter().try_for_each(|(f, v)| check(f, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field's boundary: at the limit it passes, one over it is
    /// refused with the field's name and limit.
    #[test]
    fn b7_e2_e5_f5_f8_g1_each_field_stops_at_its_limit() {
        for &f in Field::ALL {
            let (limit, unit) = f.limit();
            // 'é' is 2 bytes and 1 character: bytes and characters differ.
            let unit_str = match unit {
                LengthUnit::Utf8Bytes => "a",
                _ => "é",
            };
            let at = unit_str.repeat(limit as usize);
            assert_eq!(check(f, &at), Ok(()), "{f:?}");
            let over = format!("{at}{unit_str}");
            assert_eq!(
                check(f, &over),
                Err(Refusal::FieldTooLong {
                    field: f.name().into(),
                    limit,
                    actual: limit + 1,
                    unit,
                }),
                "{f:?}"
            );
        }
        // Bytes count bytes: 8 four-byte emoji are 32 bytes, 9 are over.
        assert!(check(Field::Emoji, &"😀".repeat(8)).is_ok());
        assert!(check(Field::Emoji, &"😀".repeat(9)).is_err());
        assert_eq!(
            check_all([(Field::Tag, "vip"), (Field::Emoji, &"x".repeat(33))])
                .err()
                .map(|r| r.code()),
            Some("field_too_long")
        );
    }
}
