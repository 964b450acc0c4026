//! Copies a task's arguments for one more run: by `Clone` where the arguments are `Clone`, by a
//! serialization round trip otherwise. A `Shared<T>` stays shared either way (the round trip
//! carries it by reference: see `sharing`). `#[concurrent]`
//! selects the strategy at the expansion site, where the argument types are concrete (autoref
//! specialization: the `&&Copier` receiver prefers `ViaClone` and falls back to `ViaSerde`).
//! The serde path is passed in as a function checked once, generically, in this crate, so a
//! type that is neither `Clone` nor serializable adds no error of its own here. The method has a
//! reserved name (`__taskpool_copy_args`): the expansion calls it by method syntax, in the
//! user's module, where a trait of the user's with a method of a plain name (`copy_args`)
//! implemented for every type would make the call ambiguous.

use super::deep_copy;
use crate::error::Error;
use crate::function::ConcurrentFunction;

/// How to copy when `Clone` is not available.
pub type Fallback<T> = fn(&T) -> Result<T, Error>;

/// Wraps the arguments to copy.
pub struct Copier<'a, T>(pub &'a T);

impl<T> std::fmt::Debug for Copier<'_, T> {
    // Whatever `T` is: the arguments themselves need not be `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Copier")
            .field(&std::any::type_name::<T>())
            .finish()
    }
}

/// Chosen when the arguments are `Clone`.
pub trait ViaClone<T> {
    /// Clones the arguments.
    fn __taskpool_copy_args(&self, fallback: Fallback<T>) -> Result<T, Error>;
}

impl<T: Clone> ViaClone<T> for &Copier<'_, T> {
    fn __taskpool_copy_args(&self, _: Fallback<T>) -> Result<T, Error> {
        Ok(self.0.clone())
    }
}

/// Chosen otherwise.
pub trait ViaSerde<T> {
    /// Copies the arguments with `fallback`.
    fn __taskpool_copy_args(&self, fallback: Fallback<T>) -> Result<T, Error>;
}

impl<T> ViaSerde<T> for Copier<'_, T> {
    fn __taskpool_copy_args(&self, fallback: Fallback<T>) -> Result<T, Error> {
        fallback(self.0)
    }
}

/// The serde fallback for the arguments of `F`.
pub fn by_serialization<F: ConcurrentFunction>(args: &F::Args) -> Result<F::Args, Error> {
    deep_copy(args)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct NotClone(u8);

    #[test]
    // The double borrow is what selects the strategy.
    #[allow(clippy::needless_borrow)]
    fn clone_is_preferred_and_serde_is_the_fallback() {
        let shared = std::sync::Arc::new(5u8);
        let copied = (&&Copier(&(shared.clone(),)))
            .__taskpool_copy_args(|_| panic!("Clone is used"))
            .unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&copied.0, &shared),
            "a Clone copy keeps sharing"
        );
        let copied = (&&Copier(&NotClone(3)))
            .__taskpool_copy_args(deep_copy)
            .unwrap();
        assert_eq!(copied, NotClone(3));
    }
}
