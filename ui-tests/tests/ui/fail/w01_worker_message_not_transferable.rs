use std::rc::Rc;

use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};

// Not serializable: a worker could not receive it as a serialized copy.
pub struct Frame {
    pub pixels: Vec<u8>,
}

pub struct Renderer;

impl WorkerHandler for Renderer {
    type In = Frame;
    // Serializable, but `Rc` is not `Send`: it cannot be moved to the host.
    type Out = Rc<Vec<u8>>;

    async fn on_message(&mut self, frame: Frame, port: &WorkerPort<Rc<Vec<u8>>>) -> HandlerResult {
        let _ = (frame, port);
        Ok(())
    }
}

fn main() {
    let _worker = Worker::new(|| Renderer);
}
