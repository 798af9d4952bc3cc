"""Double of Fusion's ``BlackmagicFusion`` module (``bmd``): ``scriptapp("Fusion")`` gives the Fusion app."""

from fusionscript import scriptapp  # noqa: F401
