use taskpool::concurrent;

mod helpers {
    pub fn double(value: u64) -> u64 {
        value * 2
    }

    pub struct Scale(pub u64);

    impl Scale {
        pub fn apply(&self, value: u64) -> u64 {
            value * self.0
        }
    }

    pub const LIMIT: u64 = 1_000;
}

fn local_helper(value: u64) -> u64 {
    value + 1
}

#[concurrent]
fn compute(value: u64) -> u64 {
    let scale = helpers::Scale(3);
    local_helper(scale.apply(helpers::double(value))).min(helpers::LIMIT)
}

fn main() {
    assert_eq!(compute(2), 13);
}
