//! Naming return addresses: function names, inlined calls included, with
//! the recorder's own frames cut off. Slow (it reads the program's debug
//! information), so it runs once, after the recording.

use std::collections::HashMap;

/// Names return addresses, remembering each address it has named.
#[derive(Debug, Default)]
pub struct Symbolizer {
    /// The functions at each address, innermost (inlined) first.
    names: HashMap<u64, Vec<String>>,
}

impl Symbolizer {
    /// A symbolizer with nothing named yet.
    pub fn new() -> Symbolizer {
        Symbolizer::default()
    }

    /// The frames of a stack of return addresses (innermost first, as
    /// captured), root first, without the recorder's frames and those of the
    /// stack walk: the last frame is the code that called the allocator.
    pub fn frames(&mut self, return_addresses: &[u64]) -> Vec<String> {
        // The walk may end on a null return address: no frame.
        let return_addresses: Vec<u64> = return_addresses
            .iter()
            .copied()
            .filter(|&a| a != 0)
            .collect();
        for &address in &return_addresses {
            self.names
                .entry(address)
                .or_insert_with(|| names_at(address));
        }
        let innermost_first: Vec<&str> = return_addresses
            .iter()
            .flat_map(|address| &self.names[address])
            .map(String::as_str)
            .collect();
        let caller = innermost_first
            .iter()
            .rposition(|name| is_recorder_frame(name))
            .map_or(0, |last| last + 1);
        innermost_first[caller..]
            .iter()
            .rev()
            .map(|name| (*name).to_owned())
            .collect()
    }
}

/// True for the frames of the stack walk, the recorder and the global
/// allocator's entry points, cut from the stacks the recorder captures.
pub fn is_recorder_frame(name: &str) -> bool {
    const PREFIXES: [&str; 4] = [
        "backtrace::",
        "heapsnow::recorder::",
        "<heapsnow::recorder::",
        "_Unwind_",
    ];
    // The allocator shims, named `__rustc::__rust_alloc` by newer compilers.
    const ENTRY_POINTS: [&str; 6] = [
        "__rust_alloc",
        "__rust_alloc_zeroed",
        "__rust_realloc",
        "__rust_dealloc",
        "__rg_",
        "__rdl_",
    ];
    let shim = name.strip_prefix("__rustc::").unwrap_or(name);
    PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || ENTRY_POINTS.iter().any(|entry| shim.starts_with(entry))
}

/// The functions at a return address, innermost first; the address in hex
/// when it has no name.
#[cfg(feature = "stacks")]
fn names_at(return_address: u64) -> Vec<String> {
    let mut names = Vec::new();
    // A return address points after its call: look up the call itself.
    let call = return_address.saturating_sub(1) as usize as *mut std::ffi::c_void;
    backtrace::resolve(call, |symbol| {
        if let Some(name) = symbol.name() {
            names.push(clean(&format!("{name:#}")));
        }
    });
    if names.is_empty() {
        names.push(format!("{return_address:#x}"));
    }
    names
}

/// Without the `stacks` feature nothing captures stacks; a table built by
/// hand is named by its addresses.
#[cfg(not(feature = "stacks"))]
fn names_at(return_address: u64) -> Vec<String> {
    vec![format!("{return_address:#x}")]
}

/// A name fit for a folded line: `;` separates frames there, and tabs and
/// newlines separate fields and lines in the files.
#[cfg(any(feature = "stacks", test))]
fn clean(name: &str) -> String {
    name.replace(';', ",").replace(['\t', '\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fit_for_folded_lines() {
        assert_eq!(clean("<[u8; 4] as Foo>::bar\t"), "<[u8, 4] as Foo>::bar ");
    }

    #[test]
    fn the_recorder_is_cut_and_the_caller_stays() {
        assert!(is_recorder_frame(
            "<heapsnow::recorder::ReportingAllocator<A> as core::alloc::global::GlobalAlloc>::alloc"
        ));
        assert!(is_recorder_frame("__rust_alloc"));
        assert!(is_recorder_frame("__rustc::__rust_realloc"));
        assert!(!is_recorder_frame("__rustc::rust_begin_unwind"));
        assert!(!is_recorder_frame("alloc::raw_vec::RawVec<T,A>::grow_one"));
        assert!(!is_recorder_frame("heapsnow_cli::sim::World::spawn"));
    }

    #[cfg(feature = "stacks")]
    #[inline(never)]
    fn here() -> Vec<u64> {
        let mut addresses = Vec::new();
        backtrace::trace(|frame| {
            addresses.push(frame.ip() as u64);
            true
        });
        addresses
    }

    #[cfg(feature = "stacks")]
    #[test]
    fn a_stack_is_named_root_first_with_this_test_in_it() {
        let frames = Symbolizer::new().frames(&here());
        let this = frames
            .iter()
            .position(|f| f.ends_with("a_stack_is_named_root_first_with_this_test_in_it"))
            .unwrap_or_else(|| panic!("no frame names the test: {frames:?}"));
        let inner = frames.iter().position(|f| f.ends_with("tests::here"));
        assert_eq!(inner, Some(this + 1), "{frames:?}");
    }
}
