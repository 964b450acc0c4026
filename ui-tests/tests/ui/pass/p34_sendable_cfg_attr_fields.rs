// Field attributes written through `cfg_attr` count as written directly: a serde skip applies
// when its predicate holds (and not otherwise), a `cfg` inside one may compile a field out.
use std::sync::Mutex;

use taskpool::{Shared, sendable};

#[derive(Default)]
pub struct Handle(pub u32); // Send + Sync, not serializable

#[sendable]
pub struct Cache {
    pub name: String,
    #[cfg_attr(all(), serde(skip))]
    pub handle: Mutex<Handle>,
    // Never skipped (the predicate is false): serialized as any field.
    #[cfg_attr(any(), serde(skip))]
    pub hits: u64,
    #[cfg_attr(all(), cfg(any()))]
    pub extra: optional_dep::Extra,
}

#[sendable]
pub enum Slot<T> {
    Empty,
    Full {
        value: T,
        #[cfg_attr(all(), serde(skip))]
        guard: Mutex<Handle>,
    },
}

fn main() {
    let cache = Shared::new(Cache {
        name: "n".into(),
        handle: Mutex::new(Handle(1)),
        hits: 3,
    });
    assert_eq!(cache.handle.lock().unwrap().0, 1);
    assert_eq!(cache.hits, 3);
    let slot = Shared::new(Slot::Full {
        value: 5u8,
        guard: Mutex::new(Handle(2)),
    });
    assert!(matches!(&*slot, Slot::Full { value: 5, .. }));
    let _ = Slot::<u8>::Empty;
}
