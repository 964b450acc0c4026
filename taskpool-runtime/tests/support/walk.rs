//! What the seeded random walks over the API share (`stress_api.rs`, `stress_mixed.rs`): their
//! random numbers, the seeds and step counts from the environment, and quiet expected panics.

/// A xorshift generator: the same seed gives the same walk on every machine.
pub struct Rng(u64);

impl Rng {
    /// The generator of walk `seed` (any seed, zero included).
    pub fn for_seed(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The seeds to walk: `STRESS_SEED` (comma-separated) if set, else `default`.
pub fn seeds(default: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    match std::env::var("STRESS_SEED") {
        Ok(seed) => seed
            .split(',')
            .map(|s| s.trim().parse().expect("STRESS_SEED"))
            .collect(),
        Err(_) => default.collect(),
    }
}

/// The steps per walk: `STRESS_STEPS` if set, else `default`.
pub fn steps(default: usize) -> usize {
    std::env::var("STRESS_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Keeps the tasks' own panics (messages starting with "stress panic") out of the output.
pub fn install_quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or("");
            if !message.starts_with("stress panic") {
                previous(info);
            }
        }));
    });
}

/// Aborts the process, with a report, when a walk stops making progress: the thread that drives
/// it is itself stuck in a call, so no assertion of its own can fail. One per test binary, in a
/// `static`; the walk says when it began and when it moves on.
pub struct Watchdog {
    /// The seed being walked.
    seed: std::sync::atomic::AtomicU64,
    /// When the walk last made progress; `None` between walks.
    progress: std::sync::Mutex<Option<std::time::Instant>>,
    armed: std::sync::Once,
}

impl Watchdog {
    pub const fn new() -> Watchdog {
        Watchdog {
            seed: std::sync::atomic::AtomicU64::new(u64::MAX),
            progress: std::sync::Mutex::new(None),
            armed: std::sync::Once::new(),
        }
    }

    /// Starts watching, once per process: past `limit` without progress, prints `"<name>: seed
    /// <seed> hangs"` and what `report` adds, then aborts.
    pub fn arm(
        &'static self,
        name: &'static str,
        limit: std::time::Duration,
        report: fn() -> String,
    ) {
        self.armed.call_once(|| {
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    let progress = *self.progress.lock().unwrap();
                    if progress.is_some_and(|at| at.elapsed() > limit) {
                        let seed = self.seed.load(std::sync::atomic::Ordering::SeqCst);
                        // Straight to stderr: `eprintln!` in a test is captured, and the
                        // capture is lost with the aborted process.
                        let report = format!("{name}: seed {seed} hangs{}\n", report());
                        let _ =
                            std::io::Write::write_all(&mut std::io::stderr(), report.as_bytes());
                        std::process::abort();
                    }
                }
            });
        });
    }

    /// Walk `seed` begins.
    pub fn begin(&self, seed: u64) {
        self.seed.store(seed, std::sync::atomic::Ordering::SeqCst);
        self.moved_on();
    }

    /// The walk made progress.
    pub fn moved_on(&self) {
        *self.progress.lock().unwrap() = Some(std::time::Instant::now());
    }

    /// The walk ended: nothing to watch until the next one begins.
    pub fn end(&self) {
        *self.progress.lock().unwrap() = None;
    }
}
