//! The registry of `#[concurrent]` functions: every marked function submits one entry at
//! compile time (through `inventory`), so the program can list them and find one by its stable name.

use crate::function::ConcurrentFunction;

/// One `#[concurrent]` function, as recorded in the program-wide registry.
///
/// The macro emits `inventory::submit! { FunctionEntry::of::<my_fn>() }` for every marked function.
///
/// ```
/// use taskpool::{__private::FunctionEntry, concurrent};
///
/// #[concurrent]
/// fn ping() -> u8 {
///     1
/// }
///
/// let names: Vec<&str> = taskpool::__private::inventory::iter::<FunctionEntry>
///     .into_iter()
///     .map(FunctionEntry::name)
///     .collect();
/// assert!(names.iter().any(|name| name.ends_with("::ping")));
/// ```
#[derive(Debug)]
pub struct FunctionEntry {
    name: &'static str,
}

impl FunctionEntry {
    /// The entry of the function type `F`.
    pub const fn of<F: ConcurrentFunction>() -> Self {
        FunctionEntry { name: F::NAME }
    }

    /// The function's stable name (module path and function name).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

inventory::collect!(FunctionEntry);
