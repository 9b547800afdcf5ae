"""The AEFI bench under Bluesky: ophyd-async devices and a flyer over the same adapters and engine.

Needs the `bluesky` extra (`pip install pymodaq_plugins_aefi[bluesky]`); importing
`pymodaq_plugins_aefi` itself never imports Bluesky.

- `ArcusMotor`: one axis of the Arcus stage (mm), for bp.scan, bp.grid_scan, bps.mv.
- `AefiBoard`: the acquisition board as a triggerable detector (six channels, V and V/m).
- `AefiFlyer`: the Rust flyscan engine as a flyer (prepare(FlyScanConfig), kickoff, complete, collect).
- `fly_raster`: a whole flyscan as one run; `map_from_documents` / `raw_from_documents` read it back.
"""
from ._board import V_PER_M_PER_VOLT, AefiBoard
from ._flyer import AefiFlyer
from ._motor import ArcusMotor
from ._plans import fly_raster, map_from_documents, raw_from_documents

__all__ = ["V_PER_M_PER_VOLT", "AefiBoard", "AefiFlyer", "ArcusMotor", "fly_raster", "map_from_documents",
           "raw_from_documents"]
