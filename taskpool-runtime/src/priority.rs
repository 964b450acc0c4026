//! Task priorities: the four lanes of the pool.

use serde::{Deserialize, Serialize};

/// The lane a task waits in. The default is [`Priority::Medium`].
///
/// Within a lane tasks start in submission order. Across lanes a worker takes HIGH work while fewer
/// than five HIGH tasks ran in a row, then gives MEDIUM one turn; MEDIUM likewise gives LOW a turn
/// after five. With every lane full the start ratio is 30 HIGH : 5 MEDIUM : 1 LOW, so nothing
/// starves. IDLE tasks start only when HIGH and MEDIUM are empty, every worker is idle (a
/// suspended `async` task holds no worker) and no other IDLE task runs.
///
/// The discriminants are ArkTS's numeric values:
///
/// ```
/// use taskpool::{Priority, TaskState};
/// let arkts = |p: Priority| p as u8;
/// assert_eq!(Priority::ALL.map(arkts), [0, 1, 2, 3]); // HIGH, MEDIUM, LOW, IDLE
/// assert_eq!(TaskState::Canceled as u8, 3); // State.CANCELED
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum Priority {
    /// Urgent work (ArkTS `Priority.HIGH`).
    High = 0,
    /// Ordinary work (ArkTS `Priority.MEDIUM`), the default.
    #[default]
    Medium = 1,
    /// Background work that may wait (ArkTS `Priority.LOW`).
    Low = 2,
    /// Work that runs only when the pool is otherwise quiet, one task at a time (ArkTS `Priority.IDLE`).
    Idle = 3,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [
        Priority::High,
        Priority::Medium,
        Priority::Low,
        Priority::Idle,
    ];

    /// The lane index: 0 for HIGH up to 3 for IDLE.
    pub(crate) fn lane(self) -> usize {
        self as usize
    }
}
