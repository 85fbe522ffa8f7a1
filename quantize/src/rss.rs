//! Peak resident memory of this process.
