use taskpool::concurrent;

#[concurrent]
fn forever() -> ! {
    loop {}
}

#[concurrent]
fn bounded(x: u8) -> u8
where
    u8: Copy,
{
    x
}

fn main() {}
