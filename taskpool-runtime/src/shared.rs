//! `Shared<T>`: a `#[sendable]` value shared between threads by reference.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sendable::Sendable;

/// A `#[sendable]` value shared between threads by reference: cloning a `Shared` copies a
/// pointer, never the value (ArkTS passes `@Sendable` objects this way).
///
/// `Shared<T>` is an [`Arc<T>`] for [`Sendable`] types. It is a valid task argument and result:
/// a task that is executed once receives the very same allocation the caller holds, with no
/// serialization at all. Mutation goes through thread-safe fields such as atomics or an
/// [`AsyncLock`](crate::AsyncLock).
///
/// `Shared<T>` is also `Serialize`/`Deserialize` (it serializes the value it points to), because a
/// task's arguments must be serializable to be logged, persisted, or copied for a task that runs
/// several times. **A serialized and deserialized `Shared` is a copy**, no longer shared with the
/// original; in-process moves and clones keep the sharing, and so does the per-run copy of a
/// re-executed task's arguments, even where it is a serialization round trip (arguments that
/// are not `Clone`): a `Shared` anywhere in them reaches every run as a handle to the caller's
/// value, as ArkTS passes a Sendable object by reference. That is why its `Serialize` and
/// `Deserialize` need `T: 'static` (every shared value's type is, being `#[sendable]`): generic
/// code deriving serde for a type with a `Shared<T>` field bounds its `T: 'static`.
///
/// As with `Arc`, values that reach each other in a cycle (a node whose lock holds a handle to
/// a node that holds it) keep each other alive: break the cycle (set the link to `None`) before
/// the last outside handle goes, or the graph is never dropped. Serializing a cycle is an error
/// (it has no serialized form), not an endless recursion.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use taskpool::{sendable, Shared};
///
/// #[sendable]
/// pub struct Hits {
///     pub count: AtomicU32,
/// }
///
/// let hits = Shared::new(Hits { count: AtomicU32::new(0) });
/// let other = hits.clone();
/// std::thread::spawn(move || other.count.fetch_add(1, Ordering::SeqCst))
///     .join()
///     .unwrap();
/// assert_eq!(hits.count.load(Ordering::SeqCst), 1);
/// ```
pub struct Shared<T>(Arc<T>);

impl<T: Sendable> Shared<T> {
    /// Moves `value` into a new shared allocation.
    ///
    /// ```
    /// use taskpool::{sendable, Shared};
    ///
    /// #[sendable]
    /// pub struct Point {
    ///     pub x: i32,
    /// }
    /// let point = Shared::new(Point { x: 1 });
    /// assert_eq!(point.x, 1);
    /// ```
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(value))
    }
}

impl<T> Shared<T> {
    /// True if both handles point to the same allocation (not merely equal values).
    ///
    /// ```
    /// use taskpool::{sendable, Shared};
    ///
    /// #[sendable]
    /// pub struct Flag {
    ///     pub on: bool,
    /// }
    /// let a = Shared::new(Flag { on: true });
    /// let b = a.clone();
    /// let c = Shared::new(Flag { on: true });
    /// assert!(Shared::ptr_eq(&a, &b));
    /// assert!(!Shared::ptr_eq(&a, &c));
    /// ```
    pub fn ptr_eq(this: &Shared<T>, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&this.0, &other.0)
    }

    /// The address of the shared value: equal for every handle to the same allocation, so a
    /// task can prove it received the caller's value and not a copy.
    ///
    /// ```
    /// use taskpool::{sendable, Shared};
    ///
    /// #[sendable]
    /// pub struct Blob {
    ///     pub bytes: Vec<u8>,
    /// }
    /// let blob = Shared::new(Blob { bytes: vec![1, 2, 3] });
    /// let address = Shared::as_ptr(&blob) as usize;
    /// let seen = std::thread::spawn({
    ///     let blob = blob.clone();
    ///     move || Shared::as_ptr(&blob) as usize
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(address, seen);
    /// ```
    pub fn as_ptr(this: &Shared<T>) -> *const T {
        Arc::as_ptr(&this.0)
    }

    /// How many handles point to this value right now.
    ///
    /// ```
    /// use taskpool::{sendable, Shared};
    ///
    /// #[sendable]
    /// pub struct Unit {
    ///     pub id: u8,
    /// }
    /// let a = Shared::new(Unit { id: 0 });
    /// let b = a.clone();
    /// assert_eq!(Shared::handle_count(&b), 2);
    /// ```
    pub fn handle_count(this: &Shared<T>) -> usize {
        Arc::strong_count(&this.0)
    }

    /// A weak reference, for registries that must not keep the value alive (named locks).
    pub(crate) fn downgrade(this: &Shared<T>) -> std::sync::Weak<T> {
        Arc::downgrade(&this.0)
    }

    /// The handle of a value still alive behind a weak reference from [`Shared::downgrade`].
    pub(crate) fn upgrade(weak: &std::sync::Weak<T>) -> Option<Shared<T>> {
        weak.upgrade().map(Shared)
    }
}

impl<T> Clone for Shared<T> {
    /// Another handle to the same value; the value itself is not cloned.
    fn clone(&self) -> Shared<T> {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> AsRef<T> for Shared<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

impl<T: Sendable> From<T> for Shared<T> {
    fn from(value: T) -> Shared<T> {
        Shared::new(value)
    }
}

/// A new shared default value (as `Arc<T>` is `Default`).
impl<T: Sendable + Default> Default for Shared<T> {
    fn default() -> Shared<T> {
        Shared::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(&*self.0).finish()
    }
}

impl<T: Serialize + 'static> Serialize for Shared<T> {
    /// Serializes the shared value itself (a deserialized `Shared` is a copy). In the per-run
    /// copy of a task's arguments, it writes a reference to this handle instead, so the copy
    /// shares the value (see `codec::sharing`). A value that contains itself through `Shared`
    /// handles (a cycle, closed through a lock) is an error, not an endless recursion.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(index) = crate::codec::sharing::lend(&self.0) {
            return serializer.serialize_str(&crate::codec::sharing::reference(index));
        }
        let Some(_on_path) = enter(&self.0) else {
            return Err(serde::ser::Error::custom(
                "a Shared value contains itself (a cycle of Shared handles): it has no \
                 serialized form; serialize the graph's data instead",
            ));
        };
        (*self.0).serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + 'static> Deserialize<'de> for Shared<T> {
    /// Builds a new, independent allocation from the serialized value. In the per-run copy of
    /// a task's arguments, it reads the reference [`Serialize`] wrote and returns another
    /// handle to the same value.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shared<T>, D::Error> {
        if crate::codec::sharing::active() {
            let reference = String::deserialize(deserializer)?;
            return crate::codec::sharing::index_of(&reference)
                .and_then(crate::codec::sharing::take_back)
                .map(Shared)
                .ok_or_else(|| {
                    serde::de::Error::custom("not a reference to a shared value of this type")
                });
        }
        T::deserialize(deserializer).map(|value| Shared(Arc::new(value)))
    }
}

thread_local! {
    /// The shared values this thread is serializing as values, outermost first: the path from
    /// the top of the value to the `Shared` being written.
    static PATH: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Notes that `handle`'s value is being serialized on this thread until the guard drops;
/// `None` if it is already, further up: the value contains itself.
fn enter<T>(handle: &Arc<T>) -> Option<OnPath> {
    let address = Arc::as_ptr(handle) as usize;
    PATH.with(|path| {
        let mut path = path.borrow_mut();
        if path.contains(&address) {
            return None;
        }
        path.push(address);
        Some(OnPath)
    })
}

/// A shared value being serialized (see [`enter`]).
struct OnPath;

impl Drop for OnPath {
    fn drop(&mut self) {
        let _ = PATH.try_with(|path| path.borrow_mut().pop());
    }
}
