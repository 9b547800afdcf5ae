//! The Arcus Performax PMX-4EX-SA: sans-IO [`protocol`] and [`reply`], [`framing`] for RS-485 and USB, and the
//! [`driver`] (`ArcusController`) that runs them over a `transport::ByteLink`.
pub mod driver;
pub mod framing;
pub mod protocol;
pub mod reply;
