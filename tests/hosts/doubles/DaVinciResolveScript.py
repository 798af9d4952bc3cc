"""Double of Resolve's ``DaVinciResolveScript`` module: ``scriptapp("Resolve")`` gives the Resolve app."""

from fusionscript import scriptapp  # noqa: F401
