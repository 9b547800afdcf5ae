//! The Arcus Performax PMX-4EX-SA: sans-IO [`protocol`] and [`reply`], [`framing`] for RS-485 and USB, and the
//! [`driver`] (`ArcusController`) that runs them over a `transport::ByteLink`; [`limits`]: what the
//! controller accepts.
pub mod driver;
pub mod framing;
pub mod limits;
pub mod protocol;
pub mod reply;
