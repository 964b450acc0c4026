// A `#[sendable]` type keeps the serde container attributes it is given. `bound` and `crate`
// replace the ones the macro would add (serde refuses an attribute given twice); the rest
// (`rename_all`, `tag`, `deny_unknown_fields`, field attributes) apply to the derived impls.
use taskpool::{Encoding, Payload, Shared, sendable};

#[sendable]
#[serde(bound = "T: taskpool::Transferable")]
pub struct Boxed<T> {
    pub value: T,
}

#[sendable]
#[serde(bound(deserialize = "T: taskpool::Transferable"))]
pub struct HalfBound<T> {
    pub value: Vec<T>,
}

#[sendable]
#[serde(crate = "taskpool::__private::serde", rename_all = "camelCase")]
pub struct Renamed {
    pub first_name: String,
    #[serde(default)]
    pub age: u32,
}

#[sendable]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

fn main() {
    let _ = Shared::new(Boxed { value: 1u8 });
    let _ = Shared::new(HalfBound { value: vec![1u8] });
    let ada = Renamed { first_name: "Ada".into(), age: 36 };
    let json = Payload::encode(&ada, Encoding::Json).unwrap();
    assert_eq!(json, Payload::Json(r#"{"firstName":"Ada","age":36}"#.to_owned()));
    let circle = Payload::Json(r#"{"kind":"Circle","radius":1.0}"#.to_owned());
    let shape: Shape = circle.decode().unwrap();
    assert!(matches!(shape, Shape::Circle { .. }));
}
