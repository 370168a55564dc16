//! Serde seeds that check a value of `--config.file` inside the deserializer's visit of it, so
//! that a refusal carries the value's line and column, and name the key's path in the error:
//! [`Checked`] runs a setting's parser, [`Refuse`] refuses whatever is there (a secret written
//! into the file, an unknown key). Neither ever reads a value into a message.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Reads one scalar and checks it with `parse`, inside the deserializer's visit of the value,
/// so that a refusal carries the value's line and column; the error names `path.key`.
pub struct Checked<'a, F> {
    pub parse: F,
    pub path: &'a str,
    pub key: &'a str,
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> DeserializeSeed<'de> for Checked<'_, F> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Checked<'_, F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}.{}: a string or a number", self.path, self.key)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        let (path, key) = (self.path, self.key);
        (self.parse)(v).map_err(|problem| E::custom(format!("{path}.{key}: {problem}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Err(self.not_a_scalar())
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(self.not_a_scalar())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.not_a_scalar())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.not_a_scalar())
    }
}

impl<F> Checked<'_, F> {
    /// A value of the wrong shape, refused without reading it.
    fn not_a_scalar<E: de::Error>(self) -> E {
        let (path, key) = (self.path, self.key);
        E::custom(format!(
            "{path}.{key}: expected a single value (a string or a number)"
        ))
    }
}

/// The error of refusing the next value of `map`.
pub fn refused<'de, A: MapAccess<'de>>(map: &mut A, seed: Refuse) -> A::Error {
    match map.next_value_seed(seed) {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

/// Refuses any value with its message; its `Ok` type is `Infallible`, so a caller can only
/// return the error.
pub struct Refuse(pub String);

impl<'de> DeserializeSeed<'de> for Refuse {
    type Value = std::convert::Infallible;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Refuse {
    type Value = std::convert::Infallible;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }
}
