use taskpool::Shared;

pub struct Plain {
    pub value: u32,
}

fn main() {
    let _shared = Shared::new(Plain { value: 1 });
}
