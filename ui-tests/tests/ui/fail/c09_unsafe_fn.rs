use taskpool::concurrent;

#[concurrent]
unsafe fn read_raw(address: usize) -> u8 {
    address as u8
}

fn main() {}
