use taskpool::concurrent;

// A parameter that exists in some builds only would change the task's argument tuple, and
// with it every descriptor of the function.
#[concurrent]
fn scaled(#[cfg(any())] factor: u32, value: u32) -> u32 {
    value
}

#[concurrent]
fn labelled(#[cfg_attr(all(), cfg(any()))] label: String, value: u32) -> u32 {
    value
}

fn main() {}
