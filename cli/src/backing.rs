//! The backing allocator the binaries wrap, chosen by cargo feature:
//! `mimalloc`, else `jemalloc`, else the system allocator.

/// The allocator behind the reporting allocator in this build.
#[cfg(feature = "mimalloc")]
pub type Backing = mimalloc::MiMalloc;
/// The allocator behind the reporting allocator in this build.
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
pub type Backing = tikv_jemallocator::Jemalloc;
/// The allocator behind the reporting allocator in this build.
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
pub type Backing = std::alloc::System;

/// An instance of [`Backing`].
#[cfg(feature = "mimalloc")]
pub const BACKING: Backing = mimalloc::MiMalloc;
/// An instance of [`Backing`].
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
pub const BACKING: Backing = tikv_jemallocator::Jemalloc;
/// An instance of [`Backing`].
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
pub const BACKING: Backing = std::alloc::System;

/// The name of [`Backing`], as `summary.json` gives it.
pub const BACKING_NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else if cfg!(feature = "jemalloc") {
    "jemalloc"
} else {
    "system"
};
