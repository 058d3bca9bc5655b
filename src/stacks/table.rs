//! The stacks of one recording, by number, with what their events weigh.

use crate::recorder::{Event, StackRef};

/// What the events with one stack add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackWeights {
    /// Events slower than the threshold with this stack.
    pub slow_events: u64,
    /// Their total latency, in ns.
    pub slow_ns: u64,
    /// Allocating calls sampled with this stack.
    pub sampled_events: u64,
}

/// Every stack a recording captured, by the number its events use
/// ([`StackRef::id`](crate::recorder::StackRef::id)): return addresses,
/// innermost first, as the recorder took them.
#[derive(Debug, Default)]
pub struct StackTable {
    frames: Vec<Box<[u64]>>,
    weights: Vec<StackWeights>,
    /// Events counted with a stack.
    events: u64,
}

impl StackTable {
    /// An empty table.
    pub fn new() -> StackTable {
        StackTable::default()
    }

    /// Adds stack `id`. The recorder numbers stacks 0, 1, 2, ... in order.
    pub fn add(&mut self, id: u32, frames: &[u64]) {
        let index = id as usize;
        if self.frames.len() <= index {
            self.frames.resize(index + 1, Box::default());
            self.weights.resize(index + 1, StackWeights::default());
        }
        self.frames[index] = frames.into();
    }

    /// Counts `event` towards its stack, if it has one.
    pub fn count(&mut self, event: &Event) {
        self.count_call(event.stack, event.latency_ns);
    }

    /// Counts a call that took `latency_ns` towards `stack`, if it has one.
    pub fn count_call(&mut self, stack: Option<StackRef>, latency_ns: u64) {
        let Some(stack) = stack else { return };
        let Some(weights) = self.weights.get_mut(stack.id as usize) else {
            return;
        };
        self.events += 1;
        if stack.slow {
            weights.slow_events += 1;
            weights.slow_ns = weights.slow_ns.saturating_add(latency_ns);
        }
        if stack.sampled {
            weights.sampled_events += 1;
        }
    }

    /// Stacks captured.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when no stack was captured.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Each stack's number, return addresses and weights, in number order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u64], StackWeights)> {
        self.frames
            .iter()
            .zip(&self.weights)
            .enumerate()
            .map(|(id, (frames, weights))| (id as u32, &frames[..], *weights))
    }

    /// Events counted with a stack, of either reason.
    pub fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Kind;

    fn event(latency_ns: u64, stack: Option<StackRef>) -> Event {
        Event {
            kind: Kind::Alloc,
            size_bytes: 8,
            align_bytes: 8,
            latency_ns,
            t_ns: 0,
            thread: 1,
            addr: 0x10,
            old_addr: None,
            old_size_bytes: None,
            stack,
        }
    }

    #[test]
    fn events_weigh_on_their_own_stack_by_reason() {
        let mut table = StackTable::new();
        table.add(0, &[1, 2]);
        table.add(1, &[3]);
        let slow = |id| {
            Some(StackRef {
                id,
                slow: true,
                sampled: false,
            })
        };
        let sampled = |id| {
            Some(StackRef {
                id,
                slow: false,
                sampled: true,
            })
        };
        let both = Some(StackRef {
            id: 1,
            slow: true,
            sampled: true,
        });
        for e in [
            event(500, slow(0)),
            event(700, slow(0)),
            event(9, sampled(1)),
        ] {
            table.count(&e);
        }
        table.count(&event(900, both));
        table.count(&event(5, None));
        let weights: Vec<StackWeights> = table.iter().map(|(_, _, w)| w).collect();
        assert_eq!(
            weights,
            [
                StackWeights {
                    slow_events: 2,
                    slow_ns: 1200,
                    sampled_events: 0
                },
                StackWeights {
                    slow_events: 1,
                    slow_ns: 900,
                    sampled_events: 2
                },
            ]
        );
        assert_eq!(table.iter().nth(1).unwrap().1, [3]);
        assert_eq!(table.events(), 4);
    }
}
