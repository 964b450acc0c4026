// `#[sendable]` derives serde's `Serialize`/`Deserialize` unless the type already does. A derive
// that another crate names the same (rkyv's `rkyv::Serialize`, here stood in for by std's
// `Debug` and `Default` under those names) is not serde's: the type still gets serde's, and
// both derives work. A path through `serde` is serde's, and is not derived twice.

use taskpool::__private::serde;
use taskpool::{Shared, TaskPool, concurrent, sendable};

/// Another crate's derives that happen to be named `Serialize` and `Deserialize`.
mod other {
    pub use core::default::Default as Deserialize;
    pub use core::fmt::Debug as Serialize;
}

#[sendable]
#[derive(other::Serialize, other::Deserialize, PartialEq)]
pub struct Point {
    pub x: u32,
}

#[sendable]
#[derive(serde::Serialize, Debug, PartialEq)]
pub struct Label {
    pub text: String,
}

#[concurrent]
fn shift(point: Point, label: Shared<Label>) -> Point {
    Point { x: point.x + label.text.len() as u32 }
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let label = Shared::new(Label { text: "ab".to_owned() });
    let shifted = pool.run(shift, (Point::default(), label)).wait().unwrap();
    assert_eq!(shifted, Point { x: 2 });
    assert_eq!(format!("{shifted:?}"), "Point { x: 2 }");

    // Through a descriptor, the arguments really are serialized with serde.
    let task = shift::task(Point { x: 1 }, Shared::new(Label { text: "c".to_owned() }));
    let descriptor = task.descriptor().unwrap();
    let bytes = descriptor.to_bytes().unwrap();
    assert!(taskpool::TaskDescriptor::from_bytes(&bytes).is_ok());
}
