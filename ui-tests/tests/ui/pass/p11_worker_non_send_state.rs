// A worker's handler may hold state that is not `Send` (`Rc`, `RefCell`): it is built on the
// worker thread by a `Send` constructor and never leaves it. Only the messages cross threads.
use std::cell::RefCell;
use std::rc::Rc;

use taskpool::{HandlerResult, Shared, Worker, WorkerHandler, WorkerPort, sendable};

#[sendable]
pub struct Config {
    pub scale: u32,
}

pub struct Scaler {
    cache: Rc<RefCell<Vec<u32>>>,
}

impl WorkerHandler for Scaler {
    type In = (Shared<Config>, u32);
    type Out = Vec<u32>;

    async fn on_message(&mut self, (config, x): (Shared<Config>, u32), port: &WorkerPort<Vec<u32>>) -> HandlerResult {
        let cache = Rc::clone(&self.cache);
        cache.borrow_mut().push(config.scale * x);
        let total = taskpool::sleep(std::time::Duration::from_millis(0));
        total.await;
        port.post_message(cache.borrow().clone())?;
        Ok(())
    }
}

fn main() {
    let worker = Worker::new(|| Scaler {
        cache: Rc::new(RefCell::new(Vec::new())),
    })
    .unwrap();
    worker
        .post_message((Shared::new(Config { scale: 2 }), 21))
        .unwrap();
    assert_eq!(worker.recv(), Some(vec![42]));
}
