//! The link opener of a build with the simulators: `sim://NAME` opens the in-process bench of
//! that name (its Arcus, or its acquisition board), every other URL goes to the core's
//! [`HardwareOpener`].
use crate::bench::SimLink;
use crate::board_bench::open_board_link;
use aefi_scan_engine::arcus::framing::Framing;
use aefi_scan_engine::transport::{ByteLink, HardwareOpener, LinkOpener, LinkUrl, TransportError};
use std::time::Duration;

/// `sim://` plus real ports.
#[derive(Debug, Default, Clone, Copy)]
pub struct BenchOpener;

impl LinkOpener for BenchOpener {
    fn open_arcus(&self, url: &str, timeout: Duration) -> Result<(Box<dyn ByteLink>, Framing), TransportError> {
        if let LinkUrl::Sim { .. } = LinkUrl::parse(url)? {
            let link = SimLink::open(url)?;
            let framing = link.framing();
            return Ok((Box::new(link), framing));
        }
        HardwareOpener.open_arcus(url, timeout)
    }

    fn open_board(&self, url: &str, timeout: Duration) -> Result<Box<dyn ByteLink>, TransportError> {
        if let LinkUrl::Sim { .. } = LinkUrl::parse(url)? {
            return Ok(Box::new(open_board_link(url)?));
        }
        HardwareOpener.open_board(url, timeout)
    }
}
