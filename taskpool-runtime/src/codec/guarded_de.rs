//! A `Deserializer` wrapper that counts nesting and refuses data deeper than
//! [`MAX_NESTING_DEPTH`](super::rules::MAX_NESTING_DEPTH) before the recursion can overflow the
//! stack.
//!
//! It forwards every call to the wrapped deserializer unchanged, wrapping each visitor, seed and
//! access it hands on so the count follows the value all the way down. A level is entered where
//! the data opens one — `visit_seq`, `visit_map`, `visit_enum`, `visit_some`,
//! `visit_newtype_struct` — which is where a `Deserialize` impl recurses, whatever method it
//! called first. `checked_ser` counts the same places on the way out.
//!
//! It also tempers the size hints of sequences and maps (see [`MAX_PRESIZE`]), and counts the
//! elements of the sequences and maps whose length the data claims (`deserialize_seq`,
//! `deserialize_map`, `deserialize_any`), against one per byte of input plus
//! [`MAX_EMPTY_ELEMENTS`](super::rules::MAX_EMPTY_ELEMENTS): zero-sized elements take no bytes,
//! so the size of the input alone does not bound how long reading them takes. Tuples and
//! structs are not counted: their length is the type's.
//!
//! The deserializers and accesses it hands user code fail with [`Refusal`], which keeps the
//! reason of a custom error (a user `Deserialize`'s, or serde's derived checks'): `postcard`
//! drops it. Where the format takes its own error type back, the reason is noted in the decode's
//! findings ([`Level::settle`]) and attached again above ([`Level::refusal`]).

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::refusal::Refusal;
use super::rules::Level;

/// The most elements a collection is sized for before they arrive. Formats pass on the length
/// the data claims (`postcard` does for maps even when the input is far too short), and serde
/// reserves up to 1 MiB for it: twelve bytes could reserve megabytes, once per level of nesting.
/// A collection still grows to any size as its elements arrive.
const MAX_PRESIZE: usize = 1024;

/// `hint`, tempered by [`MAX_PRESIZE`].
fn tempered(hint: Option<usize>) -> Option<usize> {
    hint.map(|len| len.min(MAX_PRESIZE))
}

/// Wraps a deserializer (or a visitor, seed or access) with the level it is at.
pub(crate) struct Guarded<'a, T> {
    inner: T,
    level: Level<'a>,
    /// For a visitor: whether the sequence or map it is handed has a length the data claims,
    /// so its elements are counted; for an access: whether they are.
    counted: bool,
}

impl<'a, T> Guarded<'a, T> {
    /// Wraps `inner`, at `level`.
    pub(crate) fn new(inner: T, level: Level<'a>) -> Guarded<'a, T> {
        Guarded {
            inner,
            level,
            counted: false,
        }
    }

    /// Wraps a visitor whose sequence or map elements are counted.
    fn counting(inner: T, level: Level<'a>) -> Guarded<'a, T> {
        Guarded {
            inner,
            level,
            counted: true,
        }
    }

    /// Counts one element if this access counts them, or the format's error saying why not.
    fn count<E: de::Error>(&self) -> Result<(), E> {
        if self.counted {
            self.level.count_element().map_err(E::custom)?;
        }
        Ok(())
    }

    /// One level deeper than `self`, or the format's error saying why not.
    fn deeper<E: de::Error>(&self) -> Result<Level<'a>, E> {
        self.level.enter(1).map_err(E::custom)
    }
}

/// `result` of a call into the format at `level`, its error with the reason noted below.
fn raised<T, E>(level: Level<'_>, result: Result<T, E>) -> Result<T, Refusal<E>> {
    result.map_err(|error| level.refusal(error))
}

/// `result` of a call into user code at `level`, its error handed back in the format's type.
fn settled<T, E>(level: Level<'_>, result: Result<T, Refusal<E>>) -> Result<T, E> {
    result.map_err(|refusal| level.settle(refusal))
}

/// Forwards `deserialize_*` methods that take only a visitor.
macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            raised(self.level, self.inner.$method(Guarded::new(visitor, self.level)))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Guarded<'_, D> {
    type Error = Refusal<D::Error>;

    forward_deserialize! {
        deserialize_bool deserialize_char
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::counting(visitor, self.level);
        raised(self.level, self.inner.deserialize_any(visitor))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::counting(visitor, self.level);
        raised(self.level, self.inner.deserialize_seq(visitor))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::counting(visitor, self.level);
        raised(self.level, self.inner.deserialize_map(visitor))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(
            self.level,
            self.inner.deserialize_unit_struct(name, visitor),
        )
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // Forwarded with its name: `serde_json` recognises `RawValue` by it.
        let visitor = Guarded::new(visitor, self.level);
        raised(
            self.level,
            self.inner.deserialize_newtype_struct(name, visitor),
        )
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(self.level, self.inner.deserialize_tuple(len, visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(
            self.level,
            self.inner.deserialize_tuple_struct(name, len, visitor),
        )
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(
            self.level,
            self.inner.deserialize_struct(name, fields, visitor),
        )
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(
            self.level,
            self.inner.deserialize_enum(name, variants, visitor),
        )
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards `visit_*` methods that carry a plain value.
macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            settled(self.level, self.inner.$method::<Refusal<E>>(value))
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Guarded<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_char(char)
        visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
        visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128)
        visit_f32(f32) visit_f64(f64)
        visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
        visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        settled(self.level, self.inner.visit_none::<Refusal<E>>())
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        settled(self.level, self.inner.visit_unit::<Refusal<E>>())
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<V::Value, D::Error> {
        let level = self.deeper()?;
        settled(level, self.inner.visit_some(Guarded::new(inner, level)))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<V::Value, D::Error> {
        let level = self.deeper()?;
        settled(
            level,
            self.inner.visit_newtype_struct(Guarded::new(inner, level)),
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let level = self.deeper()?;
        let seq = Guarded {
            counted: self.counted,
            ..Guarded::new(seq, level)
        };
        settled(level, self.inner.visit_seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let level = self.deeper()?;
        let map = Guarded {
            counted: self.counted,
            ..Guarded::new(map, level)
        };
        settled(level, self.inner.visit_map(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let level = self.deeper()?;
        settled(level, self.inner.visit_enum(Guarded::new(data, level)))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Guarded<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, inner: D) -> Result<S::Value, D::Error> {
        settled(
            self.level,
            self.inner.deserialize(Guarded::new(inner, self.level)),
        )
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Guarded<'_, A> {
    type Error = Refusal<A::Error>;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let seed = Guarded::new(seed, self.level);
        let element = raised(self.level, self.inner.next_element_seed(seed))?;
        if element.is_some() {
            self.count::<Self::Error>()?;
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        tempered(self.inner.size_hint())
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Guarded<'_, A> {
    type Error = Refusal<A::Error>;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let seed = Guarded::new(seed, self.level);
        let key = raised(self.level, self.inner.next_key_seed(seed))?;
        if key.is_some() {
            self.count::<Self::Error>()?;
        }
        Ok(key)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        raised(
            self.level,
            self.inner.next_value_seed(Guarded::new(seed, self.level)),
        )
    }

    fn size_hint(&self) -> Option<usize> {
        tempered(self.inner.size_hint())
    }
}

impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Guarded<'a, A> {
    type Error = Refusal<A::Error>;
    type Variant = Guarded<'a, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), Self::Error> {
        let seed = Guarded::new(seed, self.level);
        let (tag, variant) = raised(self.level, self.inner.variant_seed(seed))?;
        Ok((tag, Guarded::new(variant, self.level)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Guarded<'_, A> {
    type Error = Refusal<A::Error>;

    fn unit_variant(self) -> Result<(), Self::Error> {
        raised(self.level, self.inner.unit_variant())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        let seed = Guarded::new(seed, self.level);
        raised(self.level, self.inner.newtype_variant_seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(self.level, self.inner.tuple_variant(len, visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = Guarded::new(visitor, self.level);
        raised(self.level, self.inner.struct_variant(fields, visitor))
    }
}
