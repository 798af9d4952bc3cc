"""Double of Fusion's ``BlackmagicFusion`` module (``bmd``): ``scriptapp("Fusion")`` gives the Fusion app,
``UIDispatcher(fusion.UIManager)`` the UI event loop (tests/hosts/doubles/fusion_ui.py)."""

from fusion_ui import UIDispatcher  # noqa: F401
from fusionscript import scriptapp  # noqa: F401
