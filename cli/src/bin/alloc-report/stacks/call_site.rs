//! Call sites: the frame of a stack that a reader would change to allocate
//! less, and the slow calls added up per call site.

use std::collections::HashMap;

/// Frames of the standard library's allocation plumbing (`Vec` growth,
/// `Box::new`, hash-table resizing, the `__rust_alloc` shims): never the
/// call site while a frame outside them is on the stack.
const PLUMBING_PREFIXES: [&str; 9] = [
    "alloc::",
    "core::",
    "std::",
    "<alloc::",
    "<core::",
    "<std::",
    "hashbrown::",
    "<hashbrown::",
    "__rust",
];

fn is_plumbing(frame: &str) -> bool {
    PLUMBING_PREFIXES
        .iter()
        .any(|prefix| frame.starts_with(prefix))
}

/// The call site of a stack (frames root first, separated by `;`): its
/// innermost frame outside the standard library's plumbing, or, when every
/// frame is plumbing, its innermost frame.
pub fn call_site(frames: &str) -> &str {
    frames
        .rsplit(';')
        .find(|frame| !is_plumbing(frame))
        .unwrap_or_else(|| frames.rsplit(';').next().unwrap_or(frames))
}

/// Slow calls sharing a stack or a call site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlowCalls {
    /// How many.
    pub events: u64,
    /// Their latencies added up (a u128: no sum of u64 latencies overflows it).
    pub total_ns: u128,
    /// The longest.
    pub max_ns: u64,
}

impl SlowCalls {
    /// Adds one call.
    pub fn record(&mut self, latency_ns: u64) {
        self.events += 1;
        self.total_ns += u128::from(latency_ns);
        self.max_ns = self.max_ns.max(latency_ns);
    }

    fn add(&mut self, other: &SlowCalls) {
        self.events += other.events;
        self.total_ns += other.total_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }
}

/// One row of the slowest call sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSiteRow {
    /// The call site; `None` for stacks that `stacks.tsv` does not list.
    pub site: Option<String>,
    /// Its slow calls.
    pub calls: SlowCalls,
}

/// Adds up the slow calls of each stack by call site (`sites`: stack
/// number to call site); stacks missing from `sites` share one row with
/// no site. Sorted by total latency, largest first (then by events, then
/// by name, so the order never depends on hashing).
pub fn by_call_site(
    per_stack: &HashMap<u32, SlowCalls>,
    sites: &HashMap<u32, String>,
) -> Vec<CallSiteRow> {
    let mut merged: HashMap<Option<&str>, SlowCalls> = HashMap::new();
    for (id, calls) in per_stack {
        let site = sites.get(id).map(String::as_str);
        merged.entry(site).or_default().add(calls);
    }
    let mut rows: Vec<CallSiteRow> = merged
        .into_iter()
        .map(|(site, calls)| CallSiteRow {
            site: site.map(str::to_owned),
            calls,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.calls
            .total_ns
            .cmp(&a.calls.total_ns)
            .then(b.calls.events.cmp(&a.calls.events))
            .then_with(|| a.site.cmp(&b.site))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_site_is_the_innermost_frame_outside_the_plumbing() {
        assert_eq!(
            call_site(
                "main;app::World::spawn;alloc::raw_vec::RawVec<T,A>::grow_one;\
                 alloc::raw_vec::finish_grow;__rust_alloc"
            ),
            "app::World::spawn"
        );
        assert_eq!(
            call_site(
                "main;app::load;<alloc::vec::Vec<T> as core::clone::Clone>::clone;\
                 hashbrown::raw::RawTable<T>::reserve_rehash;std::alloc::alloc"
            ),
            "app::load"
        );
        assert_eq!(call_site("main;app::run"), "app::run");
        assert_eq!(call_site("app::run"), "app::run");
        // Every frame plumbing: the innermost.
        assert_eq!(
            call_site("std::rt::lang_start;alloc::alloc::alloc"),
            "alloc::alloc::alloc"
        );
        // A prefix only counts at the start of the name.
        assert_eq!(
            call_site("main;my_alloc::pool::take;core::ptr::write"),
            "my_alloc::pool::take"
        );
    }

    #[test]
    fn slow_calls_add_up_by_call_site() {
        let calls = |latencies: &[u64]| {
            let mut calls = SlowCalls::default();
            for &latency_ns in latencies {
                calls.record(latency_ns);
            }
            calls
        };
        let per_stack = HashMap::from([
            (1, calls(&[20_000, 30_000])),
            (2, calls(&[500_000])),
            (3, calls(&[100_000])),
            (9, calls(&[15_000, u64::MAX])),
        ]);
        let sites = HashMap::from([
            (1, "app::spawn".to_owned()),
            (2, "app::step".to_owned()),
            (3, "app::spawn".to_owned()),
            (4, "app::unused".to_owned()),
        ]);
        let rows = by_call_site(&per_stack, &sites);
        let summary: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    row.site.as_deref(),
                    row.calls.events,
                    row.calls.total_ns,
                    row.calls.max_ns,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (None, 2, u128::from(u64::MAX) + 15_000, u64::MAX),
                (Some("app::step"), 1, 500_000, 500_000),
                (Some("app::spawn"), 3, 150_000, 100_000),
            ]
        );
    }
}
