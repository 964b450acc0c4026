// A field that cannot be shared, hidden in a generic argument (reported by the syntactic rules
// at the inner type) or behind an alias, plain or generic (reported by the type-level check at
// the field's type).
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use taskpool::sendable;

type Counted = Rc<u32>;
type Optional<T> = Vec<Option<T>>;

#[sendable]
pub struct HiddenInGenerics {
    pub counted: Vec<Option<Rc<u32>>>,
    pub cells: HashMap<String, RefCell<u8>>,
}

#[sendable]
pub struct HiddenByAlias {
    pub counted: Counted,
}

#[sendable]
pub struct HiddenByGenericAlias {
    pub counted: Optional<Rc<u8>>,
}

// Only an alias shows this one: the type-level check reports it. (Beside a syntactic error in
// the same type it would show only once that is fixed: a type with errors is emitted unexpanded.)
#[sendable]
pub struct AliasInGenericAlias {
    pub aliased: Optional<Counted>,
}

fn main() {}
