use std::future::Future;
use std::rc::Rc;
use taskpool::concurrent;

#[concurrent]
unsafe fn everything_wrong<'a, T>(name: &'a str, shared: Rc<T>, log: &mut Vec<String>) -> impl Future<Output = ()> {
    thread_local! {
        static DEPTH: u32 = 0;
    }
    static mut HITS: u32 = 0;
    let _ = (name, shared, log);
    async {}
}

fn main() {}
