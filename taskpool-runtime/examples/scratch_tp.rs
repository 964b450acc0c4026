use std::time::Instant;
use taskpool::{concurrent, TaskPool, Task};

#[concurrent]
fn empty() {}

fn main() {
    let pool = TaskPool::new();
    for round in 0..5 {
        let start = Instant::now();
        let handles: Vec<_> = (0..200_000).map(|_| pool.execute(Task::new(empty, ()))).collect();
        let submitted = start.elapsed();
        for h in handles { h.wait().unwrap(); }
        let total = start.elapsed();
        println!("round {round}: submit {:.0} k/s, total {:.0} k/s", 200_000.0 / submitted.as_secs_f64() / 1e3, 200_000.0 / total.as_secs_f64() / 1e3);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let rp = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for round in 0..3 {
        let start = Instant::now();
        for _ in 0..200_000 { let tx = tx.clone(); rp.spawn(move || { tx.send(()).unwrap(); }); }
        for _ in 0..200_000 { rx.recv().unwrap(); }
        println!("rayon round {round}: total {:.0} k/s", 200_000.0 / start.elapsed().as_secs_f64() / 1e3);
    }
}
