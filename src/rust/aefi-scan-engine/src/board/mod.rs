//! The AEFI acquisition board (MCU + AD9106 DDS + two ADS131A04 ADCs on a 1.5 Mbaud serial port).
//!
//! - [`protocol`]: sans-IO command encoding and reply parsing (`a`/`d` register writes, `m<n>`).
//! - [`convert`]: raw codes → volts → V/m in the lab frame (calibration and rotation as data).
//! - [`registers`]: the register map and the configuration step (DDS and ADC settings).
//! - [`driver`]: the board over a `ByteLink`: deadlines, typed errors naming the port, timed
//!   measurements, the configuration step.
//! - [`timing`]: the board's timing model (fitted to the legacy bench), shared by the simulator
//!   and the driver.
//!
//! Where the legacy notes leave the protocol open, the choice is marked **Assumption** in the
//! module docs of [`protocol`], [`registers`] and [`timing`].
pub mod convert;
pub mod driver;
pub mod protocol;
pub mod registers;
pub mod timing;
