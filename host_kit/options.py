"""The option tables the worker publishes in its ``hello`` reply, seen from a host.

``hello`` carries ``options``: ``{table: [{"name", "type", "default", "help", "choices"?, "min"?, "max"?}]}``
with the tables ``merge`` (DeepFaceLab's merge options) and ``render`` (provider, faces, passes, face type).
A host builds its dropdowns and slider ranges from them and never keeps its own copy of a list.
"""


class OptionTables(object):
    """Look-ups in the published tables (``hello["options"]``)."""

    def __init__(self, tables):
        self.tables = dict(tables or {})
        self._by_name = {}
        for table in self.tables.values():
            for entry in table:
                self._by_name[entry["name"]] = entry

    @classmethod
    def from_hello(cls, hello):
        tables = (hello or {}).get("options")
        if not tables:
            raise ValueError("this facecomp worker publishes no option tables (update facecomp)")
        return cls(tables)

    def __contains__(self, name):
        return name in self._by_name

    def entry(self, name):
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError("facecomp publishes no option {!r}".format(name)) from None

    def names(self, table):
        return [e["name"] for e in self.tables.get(table, [])]

    def choices(self, name):
        return list(self.entry(name).get("choices") or [])

    def default(self, name):
        return self.entry(name).get("default")

    def range(self, name):
        """(min, max) of a numeric option."""
        e = self.entry(name)
        return e.get("min"), e.get("max")

    def help(self, name):
        return self.entry(name).get("help", "")

    def kind(self, name):
        return self.entry(name).get("type", "str")

    def defaults(self, table):
        return {e["name"]: e.get("default") for e in self.tables.get(table, [])}
