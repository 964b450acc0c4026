//! Composition: what ArkTS builds on top of single tasks — groups, runners, dependencies,
//! delayed execution.
//!
//! None of this is known to the scheduler. Each capability uses two generic seams of the pool:
//! *held runs* (`PoolShared::prepare` builds a run and registers it as waiting, so cancel and
//! `info()` see it, and `PoolShared::enqueue` queues it later — when its dependencies,
//! its runner or its delay allow) and *run hooks* (`RunHooks`: enqueued, started, settled).

pub(crate) mod group;
