//! A `Serializer` wrapper that applies the decoder's rules on the way out, so a value that
//! cannot be read back is refused when it is written, with a clear error:
//!
//! - nesting is counted exactly as `guarded_de` counts it when reading (a sequence, tuple, map,
//!   struct, newtype or `Some` is one level; an enum variant is one, plus one for a tuple or
//!   struct variant's fields), against the same limit;
//! - for JSON, NaN and the infinities are refused: `serde_json` would write them as `null`, which
//!   a float cannot be read from;
//! - for JSON, bytes (`serialize_bytes`) are one level: `serde_json` writes them as an array of
//!   numbers, which the decoder reads as a sequence (`visit_seq`), one level deeper;
//! - the elements of sequences and maps are counted as `guarded_de` counts them, for the caller
//!   to check against the size of the output (`Findings::check_elements`);
//! - the reason of a custom error (`serde::ser::Error::custom`, from a user `Serialize` or a
//!   runtime type's) is kept up to the caller (see `refusal`): `postcard` drops it.

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

use super::refusal::Refusal;
use super::rules::{Breach, Level};

/// What the wrappers carry down the value: its level and whether the encoding is JSON.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    level: Level<'a>,
    /// JSON: floats must be finite, and bytes are written as an array.
    json: bool,
}

impl<'a> Rules<'a> {
    /// The rules for a value at `level`; `json` for JSON, which cannot hold NaN or the
    /// infinities and writes bytes as an array of numbers.
    pub(crate) fn new(level: Level<'a>, json: bool) -> Rules<'a> {
        Rules { level, json }
    }

    /// `levels` deeper, or the format's error saying why not.
    fn enter<E: ser::Error>(self, levels: usize) -> Result<Rules<'a>, E> {
        let level = self.level.enter(levels).map_err(E::custom)?;
        Ok(Rules { level, ..self })
    }

    /// Counts one element of a sequence or map.
    fn element<E: ser::Error>(self) -> Result<(), E> {
        self.level.count_element().map_err(E::custom)
    }

    /// `value`, unless the encoding cannot hold it.
    fn float<F: Into<f64> + Copy, E: ser::Error>(self, value: F) -> Result<F, E> {
        let wide = value.into();
        if self.json && !wide.is_finite() {
            return Err(E::custom(self.level.breach(Breach::NonFinite(wide))));
        }
        Ok(value)
    }
}

/// A serializer, or one of its compound states, with the rules it applies.
pub(crate) struct Checked<'a, S> {
    inner: S,
    rules: Rules<'a>,
}

impl<'a, S> Checked<'a, S> {
    /// Wraps `inner` with `rules`.
    pub(crate) fn new(inner: S, rules: Rules<'a>) -> Checked<'a, S> {
        Checked { inner, rules }
    }
}

/// A value to serialize through a [`Checked`] serializer, for the compound states to hand on.
struct CheckedValue<'v, 'a, T: ?Sized> {
    value: &'v T,
    rules: Rules<'a>,
}

impl<T: Serialize + ?Sized> Serialize for CheckedValue<'_, '_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let result = self.value.serialize(Checked::new(serializer, self.rules));
        // The format's serializer, which called this value, takes only its own error type.
        result.map_err(|refusal| self.rules.level.settle(refusal))
    }
}

/// Hands `value`, to be serialized with `rules`, to `write` (a call of the format's serializer),
/// and gives its error back with the reason the value's serialization noted.
fn hand_on<T: ?Sized, R, E>(
    value: &T,
    rules: Rules<'_>,
    write: impl FnOnce(&CheckedValue<'_, '_, T>) -> Result<R, E>,
) -> Result<R, Refusal<E>> {
    write(&CheckedValue { value, rules }).map_err(|inner| rules.level.refusal(inner))
}

/// Forwards `serialize_*` methods that carry a plain value.
macro_rules! forward_serialize {
    ($($method:ident($ty:ty))*) => {$(
        fn $method(self, value: $ty) -> Result<S::Ok, Self::Error> {
            Ok(self.inner.$method(value)?)
        }
    )*};
}

impl<'a, S: Serializer> Serializer for Checked<'a, S> {
    type Ok = S::Ok;
    type Error = Refusal<S::Error>;
    type SerializeSeq = Checked<'a, S::SerializeSeq>;
    type SerializeTuple = Checked<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Checked<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Checked<'a, S::SerializeTupleVariant>;
    type SerializeMap = Checked<'a, S::SerializeMap>;
    type SerializeStruct = Checked<'a, S::SerializeStruct>;
    type SerializeStructVariant = Checked<'a, S::SerializeStructVariant>;

    forward_serialize! {
        serialize_bool(bool) serialize_char(char)
        serialize_i8(i8) serialize_i16(i16) serialize_i32(i32) serialize_i64(i64)
        serialize_i128(i128)
        serialize_u8(u8) serialize_u16(u16) serialize_u32(u32) serialize_u64(u64)
        serialize_u128(u128)
        serialize_str(&str)
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<S::Ok, Self::Error> {
        // JSON writes bytes as an array, which reading enters as a sequence: one level.
        if self.rules.json {
            self.rules.enter::<Self::Error>(1)?;
        }
        Ok(self.inner.serialize_bytes(value)?)
    }

    fn serialize_f32(self, value: f32) -> Result<S::Ok, Self::Error> {
        Ok(self
            .inner
            .serialize_f32(self.rules.float::<_, Self::Error>(value)?)?)
    }

    fn serialize_f64(self, value: f64) -> Result<S::Ok, Self::Error> {
        Ok(self
            .inner
            .serialize_f64(self.rules.float::<_, Self::Error>(value)?)?)
    }

    fn serialize_none(self) -> Result<S::Ok, Self::Error> {
        Ok(self.inner.serialize_none()?)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        hand_on(value, rules, |value| self.inner.serialize_some(value))
    }

    fn serialize_unit(self) -> Result<S::Ok, Self::Error> {
        Ok(self.inner.serialize_unit()?)
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, Self::Error> {
        Ok(self.inner.serialize_unit_struct(name)?)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, Self::Error> {
        // Reading any variant goes through `visit_enum`: one level, even without data.
        self.rules.enter::<Self::Error>(1)?;
        Ok(self.inner.serialize_unit_variant(name, index, variant)?)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        hand_on(value, rules, |value| {
            self.inner.serialize_newtype_struct(name, value)
        })
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        hand_on(value, rules, |value| {
            self.inner
                .serialize_newtype_variant(name, index, variant, value)
        })
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        Ok(Checked::new(self.inner.serialize_seq(len)?, rules))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        Ok(Checked::new(self.inner.serialize_tuple(len)?, rules))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Checked::new(inner, rules))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        // The variant, then its fields: two levels, as `visit_enum` then `visit_seq` read them.
        let rules = self.rules.enter::<Self::Error>(2)?;
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Checked::new(inner, rules))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(1)?;
        Ok(Checked::new(self.inner.serialize_map(len)?, rules))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        // Forwarded with its name: `serde_json` recognises `RawValue` by it.
        let rules = self.rules.enter::<Self::Error>(1)?;
        Ok(Checked::new(self.inner.serialize_struct(name, len)?, rules))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        let rules = self.rules.enter::<Self::Error>(2)?;
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Checked::new(inner, rules))
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, Self::Error> {
        Ok(self.inner.collect_str(value)?)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C: SerializeSeq> SerializeSeq for Checked<'_, C> {
    type Ok = C::Ok;
    type Error = Refusal<C::Error>;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.rules.element::<Self::Error>()?;
        hand_on(value, self.rules, |value| {
            self.inner.serialize_element(value)
        })
    }

    fn end(self) -> Result<C::Ok, Self::Error> {
        Ok(self.inner.end()?)
    }
}

/// The tuple-like compounds: their number of elements is fixed by the type, so unlike a
/// sequence's they are not counted; each is handed on with the compound's rules.
macro_rules! forward_tuple_like {
    ($($compound:ident :: $method:ident),*) => {$(
        impl<C: $compound> $compound for Checked<'_, C> {
            type Ok = C::Ok;
            type Error = Refusal<C::Error>;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
                hand_on(value, self.rules, |value| self.inner.$method(value))
            }

            fn end(self) -> Result<C::Ok, Self::Error> {
                Ok(self.inner.end()?)
            }
        }
    )*};
}

forward_tuple_like!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<C: SerializeMap> SerializeMap for Checked<'_, C> {
    type Ok = C::Ok;
    type Error = Refusal<C::Error>;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        self.rules.element::<Self::Error>()?;
        hand_on(key, self.rules, |key| self.inner.serialize_key(key))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        hand_on(value, self.rules, |value| self.inner.serialize_value(value))
    }

    fn end(self) -> Result<C::Ok, Self::Error> {
        Ok(self.inner.end()?)
    }
}

/// The struct-like compounds: each named field is handed on with the compound's rules
/// (uncounted, as a tuple's).
macro_rules! forward_struct_like {
    ($($compound:ident),*) => {$(
        impl<C: $compound> $compound for Checked<'_, C> {
            type Ok = C::Ok;
            type Error = Refusal<C::Error>;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Self::Error> {
                hand_on(value, self.rules, |value| {
                    self.inner.serialize_field(key, value)
                })
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), Self::Error> {
                Ok(self.inner.skip_field(key)?)
            }

            fn end(self) -> Result<C::Ok, Self::Error> {
                Ok(self.inner.end()?)
            }
        }
    )*};
}

forward_struct_like!(SerializeStruct, SerializeStructVariant);
