//! The field names of a serde struct, read from its `Deserialize` impl, so
//! that the list of known keys has one source of truth: the struct itself.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Returns the field names that `T`'s derived `Deserialize` expects
/// (renamed names included). Empty for types that are not structs.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldNameCollector(&mut fields));
    fields.unwrap_or(&[])
}

/// The known name nearest to `unknown`, when one is near enough to be a
/// likely typo.
pub fn suggest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (k, strsim::normalized_damerau_levenshtein(unknown, k)))
        .filter(|(_, score)| *score >= 0.6)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

struct FieldNameCollector<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNameCollector<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields collected"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        alpha: u32,
        #[serde(rename = "type")]
        kind: String,
    }

    #[test]
    fn reads_field_names_of_a_struct() {
        assert_eq!(field_names::<Sample>(), &["alpha", "type"]);
    }

    #[test]
    fn suggests_the_nearest_name() {
        assert_eq!(
            suggest("tool_argz", ["tool_name", "tool_args"]),
            Some("tool_args")
        );
        assert_eq!(suggest("zzz", ["tool_name"]), None);
    }
}
