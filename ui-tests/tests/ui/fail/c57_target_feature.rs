use taskpool::concurrent;

// A `#[target_feature]` function may only be called where the feature is enabled, and safely
// only from code that enables it too: the pool's threads cannot promise the CPU has it.
#[concurrent]
#[target_feature(enable = "sse2")]
fn sum(values: Vec<u32>) -> u32 {
    values.iter().sum()
}

#[target_feature(enable = "sse2")]
#[concurrent]
async fn sum_later(values: Vec<u32>) -> u32 {
    values.iter().sum()
}

fn main() {}
