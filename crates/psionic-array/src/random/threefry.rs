//! Threefry-2x32 (20 rounds), the counter-based hash behind MLX's (and JAX's) keys, and
//! MLX's layout of a key's random words.

const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];

pub fn hash(key: (u32, u32), count: (u32, u32)) -> (u32, u32) {
    let ks = [key.0, key.1, key.0 ^ key.1 ^ 0x1BD1_1BDA];
    let (mut a, mut b) = (count.0.wrapping_add(ks[0]), count.1.wrapping_add(ks[1]));
    for i in 0..5 {
        for r in ROTATIONS[i % 2] {
            a = a.wrapping_add(b);
            b = b.rotate_left(r) ^ a;
        }
        a = a.wrapping_add(ks[(i + 1) % 3]);
        b = b.wrapping_add(ks[(i + 2) % 3]).wrapping_add(i as u32 + 1);
    }
    (a, b)
}

/// `n` random words from one key, as MLX lays them out: counter pair `(i, i + h')` fills
/// words `i` and `i + h'` (`h = n / 2`, `h' = h + n % 2`), and an odd middle word comes
/// from the pair `(h, 0)`.
pub fn words(key: (u32, u32), n: usize) -> Vec<u32> {
    let half = n / 2;
    let odd = n % 2;
    let mut out = vec![0u32; n];
    for i in 0..half {
        let (x, y) = hash(key, (i as u32, (i + half + odd) as u32));
        out[i] = x;
        out[i + half + odd] = y;
    }
    if odd == 1 {
        out[half] = hash(key, (half as u32, 0)).0;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_answer() {
        // Threefry-2x32-20 test vector from the Random123 suite (key and counter zero).
        assert_eq!(super::hash((0, 0), (0, 0)), (0x6b20_0159, 0x99ba_4efe));
    }
}
