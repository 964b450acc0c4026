//! The scheduling core: the dispatch rule and how workers sleep. `README.md` explains both.

pub(crate) mod dispatch;
pub(crate) mod parker;
