//! The call stacks a run captured: counted per stack number while
//! `alloc.tsv` streams by, then matched with the files the recorder writes
//! beside it (`stacks.tsv`, the two folded files, `summary.json`'s settings).
//!
//! Memory grows with the distinct stacks, never with the rows.

pub mod call_site;
pub mod folded;
pub mod settings;
pub mod stacks_tsv;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use heapsnow::recorder::Event;

use call_site::{CallSiteRow, SlowCalls};
use folded::Folded;
use settings::Settings;

/// Events that had their stack captured, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Captured {
    /// Events with a stack.
    pub events: u64,
    /// Of them, calls past the `--stacks-over` threshold.
    pub slow: u64,
    /// Of them, every N-th allocating call (`--stacks-every`).
    pub sampled: u64,
    /// Of them, both slow and sampled.
    pub both: u64,
}

/// What the call-site table can say about a run's slow calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallSites {
    /// `stacks.tsv` was read: every call site, slowest total first.
    Known(Vec<CallSiteRow>),
    /// Events have stacks, but `stacks.tsv` is not beside `alloc.tsv`.
    FramesMissing,
}

/// Everything about one run's captured stacks.
#[derive(Debug, Default)]
pub struct RunStacks {
    /// Events with a stack, by why.
    pub captured: Captured,
    /// Slow calls per stack number, while streaming.
    slow_by_stack: HashMap<u32, SlowCalls>,
    /// The slow calls by call site, once [`RunStacks::load`] read `stacks.tsv`.
    pub call_sites: Option<CallSites>,
    /// `slow-stacks.folded`, when it holds stacks: width is allocator time.
    pub slow_folded: Option<Folded>,
    /// `sampled-stacks.folded`, when it holds stacks: width is allocations.
    pub sampled_folded: Option<Folded>,
    /// How the run captured its stacks.
    pub settings: Settings,
}

impl RunStacks {
    /// Counts one event's stack, if it has one.
    pub fn record(&mut self, event: &Event) {
        let Some(stack) = event.stack else { return };
        let captured = &mut self.captured;
        captured.events += 1;
        captured.slow += u64::from(stack.slow);
        captured.sampled += u64::from(stack.sampled);
        captured.both += u64::from(stack.slow && stack.sampled);
        if stack.slow {
            self.slow_by_stack
                .entry(stack.id)
                .or_default()
                .record(event.latency_ns);
        }
    }

    /// Whether there is anything to say about this run's stacks: events
    /// with one, a flame graph to draw, or stacks requested.
    pub fn any(&self) -> bool {
        self.captured.events > 0
            || self.slow_folded.is_some()
            || self.sampled_folded.is_some()
            || self.settings != Settings::default()
    }

    /// Reads the files beside the run's `alloc.tsv` in `dir`, once every
    /// event is recorded. Files that are missing are no error (stacks not
    /// requested, or none captured), but events with stacks and no
    /// `stacks.tsv` are warned about; bad lines are errors naming the file
    /// and the line.
    pub fn load(&mut self, dir: &Path, warn: &dyn Fn(&str)) -> Result<()> {
        self.slow_folded = folded::read(&dir.join("slow-stacks.folded"))?;
        self.sampled_folded = folded::read(&dir.join("sampled-stacks.folded"))?;
        if self.captured.events > 0 {
            let path = dir.join("stacks.tsv");
            let wanted: HashSet<u32> = self.slow_by_stack.keys().copied().collect();
            self.call_sites = Some(match stacks_tsv::read(&path, &wanted)? {
                Some(sites) => {
                    if let Some(line) = sites.skipped_partial_line {
                        warn(&format!(
                            "{}:{line}: the last line has no newline (a run killed \
                             mid-write?): skipped it",
                            path.display()
                        ));
                    }
                    CallSites::Known(call_site::by_call_site(
                        &self.slow_by_stack,
                        &sites.by_stack,
                    ))
                }
                None => {
                    warn(&format!(
                        "{}: missing, while {} events have a stack number: their call \
                         sites are unknown",
                        path.display(),
                        self.captured.events
                    ));
                    CallSites::FramesMissing
                }
            });
            self.slow_by_stack = HashMap::new();
        }
        // Read even without stacks: a run that asked for them and captured
        // none says so. A summary.json that cannot be read only matters
        // (and is only warned about) when there are stacks to describe.
        match settings::read(dir) {
            Ok(settings) => self.settings = settings,
            Err(e) if self.any() => warn(&format!(
                "{e:#}: the flame graphs' titles do not say how stacks were captured"
            )),
            Err(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use heapsnow::recorder::{Kind, StackRef};

    use super::*;

    fn event(latency_ns: u64, stack: Option<(u32, bool, bool)>) -> Event {
        Event {
            kind: Kind::Alloc,
            size_bytes: 16,
            align_bytes: 8,
            latency_ns,
            t_ns: 0,
            thread: 1,
            addr: 0x10,
            old_addr: None,
            old_size_bytes: None,
            stack: stack.map(|(id, slow, sampled)| StackRef { id, slow, sampled }),
        }
    }

    #[test]
    fn counts_stacks_and_attributes_slow_calls() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(
            dir.path().join("stacks.tsv"),
            "stack\tframes\n1\tmain;app::spawn;alloc::alloc::alloc\n2\tmain;app::step\n",
        )
        .unwrap();
        let mut stacks = RunStacks::default();
        for e in [
            event(10, None),
            event(20_000, Some((1, true, false))),
            event(40_000, Some((1, true, true))),
            event(30, Some((2, false, true))),
            event(15_000, Some((7, true, false))),
        ] {
            stacks.record(&e);
        }
        let warnings = std::cell::RefCell::new(Vec::new());
        stacks
            .load(dir.path(), &|w| warnings.borrow_mut().push(w.to_owned()))
            .unwrap();
        assert!(warnings.borrow().is_empty(), "{:?}", warnings.borrow());
        assert_eq!(
            stacks.captured,
            Captured {
                events: 4,
                slow: 3,
                sampled: 2,
                both: 1,
            }
        );
        let Some(CallSites::Known(rows)) = &stacks.call_sites else {
            panic!("stacks.tsv was read: {:?}", stacks.call_sites);
        };
        let rows: Vec<_> = rows
            .iter()
            .map(|row| (row.site.as_deref(), row.calls.events, row.calls.total_ns))
            .collect();
        assert_eq!(rows, [(Some("app::spawn"), 2, 60_000), (None, 1, 15_000)]);
        assert!(stacks.any());
        assert_eq!(stacks.slow_folded, None);
    }

    #[test]
    fn stacks_without_stacks_tsv_are_a_warning() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut stacks = RunStacks::default();
        stacks.record(&event(20_000, Some((1, true, false))));
        let warnings = std::cell::RefCell::new(Vec::new());
        stacks
            .load(dir.path(), &|w| warnings.borrow_mut().push(w.to_owned()))
            .unwrap();
        assert_eq!(stacks.call_sites, Some(CallSites::FramesMissing));
        let warnings = warnings.borrow();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("stacks.tsv: missing"), "{warnings:?}");
    }

    #[test]
    fn a_run_without_stacks_reads_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        // Not JSON, but nothing needs the settings: no warning.
        std::fs::write(dir.path().join("summary.json"), "{").unwrap();
        let mut stacks = RunStacks::default();
        stacks.record(&event(20_000, None));
        stacks.load(dir.path(), &|w| panic!("warned: {w}")).unwrap();
        assert!(!stacks.any());
        assert_eq!(stacks.call_sites, None);
    }

    #[test]
    fn stacks_requested_and_none_captured_is_still_said() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join("slow-stacks.folded"), "").unwrap();
        std::fs::write(
            dir.path().join("summary.json"),
            r#"{"stacks_over_ns": 5000, "stacks_every": null}"#,
        )
        .unwrap();
        let mut stacks = RunStacks::default();
        stacks.record(&event(20, None));
        stacks.load(dir.path(), &|w| panic!("warned: {w}")).unwrap();
        assert!(stacks.any());
        assert_eq!(stacks.settings.stacks_over_ns, Some(5000));
        assert_eq!(stacks.slow_folded, None);
    }
}
