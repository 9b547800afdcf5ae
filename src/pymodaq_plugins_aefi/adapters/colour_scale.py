"""Asks the PyMoDAQ 2D viewer that shows a module's map for its colour bar, as a user would.

PyMoDAQ gives a plugin no handle on the data viewers of its module: they belong to the DAQ_Viewer
in the GUI thread, each in a dock named "<module title>_Viewer_<n>" (made when the module starts)
or "<module title> <data name>" (made when data of another kind arrive). `ColourScale.show(title)`,
callable from the plugin's thread, finds the module's 2D viewers from the GUI thread and checks
their own "AutoLevels" (the colour scale follows each frame, so the first rows of a live map do not
fix it) and "Histogram" (the colour bar) actions. It does so once per dock: a user who unchecks
them afterwards is not overruled. Without such a dock (no Dashboard) it does nothing.
"""
from __future__ import annotations

import re

from qtpy import QtCore, QtWidgets

#: Texts of the pymodaq_gui View2D actions checked, in this order.
VIEWER_ACTIONS = ("AutoLevels", "Histogram")
_DONE = "aefi_colour_scale"  # a Qt property of the docks already set up


class ColourScale(QtCore.QObject):
    """Lives in the GUI thread; `show` may be called from any thread."""

    _requested = QtCore.Signal(str)

    def __init__(self) -> None:
        super().__init__()
        app = QtWidgets.QApplication.instance()
        if app is not None and app.thread() is not self.thread():
            self.moveToThread(app.thread())
        self._requested.connect(self._apply)

    def show(self, module_title: str) -> None:
        """Check the colour-bar actions of the 2D viewers of the module `module_title` (queued to the GUI thread)."""
        self._requested.emit(module_title)

    @QtCore.Slot(str)
    def _apply(self, module_title: str) -> None:
        for dock in viewer_docks(module_title):
            if dock.property(_DONE):
                continue
            actions = {action.text(): action for bar in dock.findChildren(QtWidgets.QToolBar)
                       for action in bar.actions()}
            if not all(name in actions and actions[name].isCheckable() for name in VIEWER_ACTIONS):
                continue  # not a 2D viewer (yet)
            for name in VIEWER_ACTIONS:
                if not actions[name].isChecked():
                    actions[name].trigger()
            dock.setProperty(_DONE, True)


def viewer_docks(module_title: str) -> list[QtWidgets.QWidget]:
    """The docks of the data viewers of the module `module_title`."""
    from pymodaq_gui.utils.dock import Dock

    name = re.compile(rf"{re.escape(module_title)}(_Viewer_\d+| .+)")
    return [widget for widget in QtWidgets.QApplication.allWidgets()
            if isinstance(widget, Dock) and name.fullmatch(widget.name())]
