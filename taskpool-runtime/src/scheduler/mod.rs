//! The scheduling core: the dispatch rule, how workers sleep and who wakes them. `README.md`
//! explains all three.

pub(crate) mod dispatch;
pub(crate) mod parker;
pub(crate) mod sleepers;
