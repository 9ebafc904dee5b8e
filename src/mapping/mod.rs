//! The mapping layer, pure: how values read on one side are written on the other ([`values`]), and
//! what a change means for a link ([`plan`]). Nothing here does I/O: it imports neither the
//! store nor the clients.

pub mod plan;
pub mod values;
