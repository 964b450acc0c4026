use taskpool::concurrent;

#[concurrent]
fn checksum(data: *const u8, len: usize) -> u8 {
    let _ = data;
    len as u8
}

fn main() {}
