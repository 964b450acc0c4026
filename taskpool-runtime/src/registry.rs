//! The registry of `#[concurrent]` functions: every marked function submits one entry (through
//! `inventory`), so any process of the same program can find it by its stable name and run it
//! from serialized arguments.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::codec::{Encoding, Payload};
use crate::error::Error;
use crate::function::{ConcurrentFunction, Invocation};
use crate::task::Call;

/// One `#[concurrent]` function, as recorded in the program-wide registry.
///
/// The macro emits `inventory::submit! { FunctionEntry::of::<my_fn>() }` for every marked
/// function; you do not build entries yourself.
///
/// ```
/// use taskpool::concurrent;
///
/// #[concurrent]
/// fn ping() -> u8 {
///     1
/// }
///
/// assert!(taskpool::registered_functions().any(|name| name.ends_with("::ping")));
/// ```
pub struct FunctionEntry {
    name: &'static str,
    call: fn(&Payload, usize) -> Result<Call<Payload>, Error>,
    transcode_args: fn(&Payload, Encoding, usize) -> Result<Payload, Error>,
}

impl FunctionEntry {
    /// The entry of the function type `F`.
    pub const fn of<F: ConcurrentFunction>() -> Self {
        FunctionEntry {
            name: F::NAME,
            call: call_erased::<F>,
            transcode_args: transcode_args::<F>,
        }
    }

    /// The function's stable name (module path and function name).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The name behind a `'static` reference (see `ConcurrentFunction::NAME_REF`).
    pub(crate) fn name_ref(&'static self) -> &'static &'static str {
        &self.name
    }

    /// Decodes `args` and prepares a call whose result is encoded like `args`, within `limit`.
    pub(crate) fn call(&self, args: &Payload, limit: usize) -> Result<Call<Payload>, Error> {
        (self.call)(args, limit)
    }

    /// Re-encodes `args` (checking they decode as this function's arguments).
    pub(crate) fn transcode_args(
        &self,
        args: &Payload,
        to: Encoding,
        limit: usize,
    ) -> Result<Payload, Error> {
        (self.transcode_args)(args, to, limit)
    }
}

impl std::fmt::Debug for FunctionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionEntry")
            .field("name", &self.name)
            .finish()
    }
}

inventory::collect!(FunctionEntry);

fn call_erased<F: ConcurrentFunction>(
    args: &Payload,
    limit: usize,
) -> Result<Call<Payload>, Error> {
    let encoding = args.encoding();
    let args: F::Args = args.decode()?;
    // In the arguments' encoding — but a result only a self-describing format reads back
    // (`serde_json::Value`) comes back in JSON rather than as compact bytes nobody can decode.
    let encode = move |value: F::Output| match encoding {
        Encoding::Postcard => crate::codec::encode_copy(&value, limit),
        Encoding::Json => Payload::encode_capped(&value, Encoding::Json, limit),
    };
    Ok(Box::new(move || match F::invoke(args) {
        Invocation::Ready(outcome) => Invocation::Ready(outcome.and_then(encode)),
        Invocation::Pending(future) => {
            Invocation::Pending(Box::pin(async move { future.await.and_then(encode) }))
        }
    }))
}

fn transcode_args<F: ConcurrentFunction>(
    args: &Payload,
    to: Encoding,
    limit: usize,
) -> Result<Payload, Error> {
    let decoded = args.decode::<F::Args>()?;
    let encoded = Payload::encode_capped(&decoded, to, limit);
    // The decoded arguments exist only for the conversion: a panic in their `Drop` (user
    // code) must not reach whoever asked for the descriptor in another form.
    crate::panic::drop_quietly(decoded);
    encoded
}

/// Every registered name, with how many entries carry it (more than one is a conflict).
fn by_name() -> &'static HashMap<&'static str, Vec<&'static FunctionEntry>> {
    static BY_NAME: OnceLock<HashMap<&'static str, Vec<&'static FunctionEntry>>> = OnceLock::new();
    BY_NAME.get_or_init(|| {
        let mut by_name: HashMap<_, Vec<_>> = HashMap::new();
        for entry in inventory::iter::<FunctionEntry> {
            by_name.entry(entry.name).or_default().push(entry);
        }
        by_name
    })
}

/// Finds the function registered under `name`.
///
/// Unknown names give [`Error::NotConcurrent`] (10200014); a name registered more than once
/// gives [`Error::DuplicateFunction`] instead of silently picking one.
pub(crate) fn lookup(name: &str) -> Result<&'static FunctionEntry, Error> {
    match by_name().get(name).map(Vec::as_slice) {
        Some([entry]) => Ok(entry),
        Some(entries) if entries.len() > 1 => Err(Error::DuplicateFunction {
            name: name.to_owned(),
            count: entries.len(),
        }),
        _ => Err(Error::NotConcurrent(name.to_owned())),
    }
}

/// The stable names of every `#[concurrent]` function linked into this program, sorted.
pub fn registered_functions() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<_> = by_name().keys().copied().collect();
    names.sort_unstable();
    names.into_iter()
}

/// The names registered more than once, each with its count. Empty in a healthy program.
pub fn duplicate_functions() -> Vec<(&'static str, usize)> {
    let mut duplicates: Vec<_> = by_name()
        .iter()
        .filter(|(_, entries)| entries.len() > 1)
        .map(|(name, entries)| (*name, entries.len()))
        .collect();
    duplicates.sort_unstable();
    duplicates
}
