//! Which projects this instance polls when several share one `--config.file`: a project
//! belongs to shard `jump(fnv1a64(id), total)`. Pure arithmetic; the host name of `--shard
//! auto` is read by the configuration.
//!
//! Jump consistent hash (Lamping and Veach, 2014) moves only the keys that must move when the
//! number of buckets grows: going from N to N+1 shards moves about 1/(N+1) of the projects, all
//! of them to the new shard.

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Lamping and Veach's jump consistent hash: the bucket of `key` among `buckets` (at least 1).
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets.max(1));
    let mut bucket: i64 = -1;
    let mut next: i64 = 0;
    while next < buckets {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // The published algorithm, in floating point as its authors wrote it.
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // 0 <= bucket < buckets <= u32::MAX.
    bucket as u32
}

/// This instance's place among the instances that share the projects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub ordinal: u32,
    pub total: u32,
}

impl Shard {
    /// One instance polling everything.
    pub const ALONE: Shard = Shard {
        ordinal: 0,
        total: 1,
    };

    /// The shard a project belongs to.
    pub fn of(project_id: &str, total: u32) -> u32 {
        jump(fnv1a64(project_id.as_bytes()), total)
    }

    /// Whether this instance polls `project_id`.
    pub fn owns(&self, project_id: &str) -> bool {
        Shard::of(project_id, self.total) == self.ordinal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        // From the FNV reference test suite (Fowler, Noll, Vo).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn jump_matches_the_reference_implementation() {
        // Values that published implementations of the paper's function document.
        assert_eq!(jump(0, 60), 0);
        assert_eq!(jump(1, 60), 55);
        assert_eq!(jump(2, 60), 46);
        assert_eq!(jump(256, 1024), 520);
        assert_eq!(jump(u64::MAX, 1), 0);
        for key in [1u64, 2, 42, 0xdead_beef, u64::MAX] {
            for buckets in 1..50 {
                assert!(jump(key, buckets) < buckets);
            }
        }
    }

    #[test]
    fn growing_from_three_to_four_shards_moves_a_quarter_and_only_to_the_new_one() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("pro-{i:010}")).collect();
        let mut moved = 0;
        for id in &ids {
            let (before, after) = (Shard::of(id, 3), Shard::of(id, 4));
            if before != after {
                assert_eq!(after, 3, "{id} moved between old shards");
                moved += 1;
            }
        }
        let share = f64::from(moved) / ids.len() as f64;
        assert!((0.22..0.28).contains(&share), "moved {share}");
    }
}
