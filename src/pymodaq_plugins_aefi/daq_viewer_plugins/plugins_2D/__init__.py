from pymodaq_plugins_aefi.utils import import_plugin_modules

# PyMoDAQ's discovery reads `module.path.parent`: this module-level name must stay `path`.
path = import_plugin_modules(__file__, __package__, "viewer_plugins_2D", "viewer")
